"""Broker outages for the worker's readiness tests: one test's own broker goes away and comes back.

Each broker is taken away in the way that keeps what it had accepted, and without touching the
shared servers of this machine (other tests use them at the same time):
- redis: a private redis-server (append-only file, fsync on every write) on a free port,
  stopped with SIGTERM and started again on the same port and data folder;
- nats: a private nats-server with JetStream file storage, the same;
- kafka: a private tansu whose storage is S3 on a private moto server (tansu's memory storage
  would forget every topic and offset at a stop), tansu stopped and started;
- rabbitmq: a TCP proxy in front of the shared node, cut (every connection aborted, new ones
  refused: what a client sees of a broker that went away) and restored;
- sqs: a private moto server (it keeps its queues in memory only) behind a TCP proxy, the same.
Where a proxy is cut, publishers reach the broker directly, so events published during the
outage are accepted; a stopped broker accepts nothing, and none are published then.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from . import moto_server
from .brokers import AWS_ENV, BrokerEndpoint, free_port, tansu_binary, wait_listening
from .proxy import TcpProxy
from .services import require, stop_process


class Outage(Protocol):
    """A broker a test can take away: `stop()`, then `start()` brings it back."""

    worker: BrokerEndpoint  # what the worker under test is given
    publisher: BrokerEndpoint  # what publishers are given
    accepts_during: bool  # whether publishers reach the broker while it is away from the worker

    def stop(self) -> None: ...

    def start(self) -> None: ...


class Server:
    """A broker process of the test's own, on a fixed port, that can be stopped and restarted."""

    def __init__(self, cmd: list[str], port: int, log: Path, env: dict[str, str] | None = None):
        self.cmd, self.port, self.log, self.env = cmd, port, log, env or {}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.cmd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **self.env}
            )
        wait_listening(self.process, self.port, Path(self.cmd[0]).name, self.log)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            stop_process(self.process)
        self.process = None


@dataclass
class StoppedServer:
    """The broker process itself stops and starts again."""

    server: Server
    worker: BrokerEndpoint
    accepts_during: bool = False

    @property
    def publisher(self) -> BrokerEndpoint:
        return self.worker

    def stop(self) -> None:
        self.server.stop()

    def start(self) -> None:
        self.server.start()


@dataclass
class CutProxy:
    """The worker reaches the broker through a proxy that is cut and restored."""

    proxy: TcpProxy
    worker: BrokerEndpoint
    publisher: BrokerEndpoint
    accepts_during: bool = True

    def stop(self) -> None:
        self.proxy.cut()

    def start(self) -> None:
        self.proxy.restore()


def _server(stack: ExitStack, cmd: list[str], port: int, log: Path, **env: str) -> Server:
    server = Server(cmd, port, log, env)
    server.start()
    stack.callback(server.stop)
    return server


def _moto(stack: ExitStack, workdir: Path) -> str:
    port = free_port()
    _server(stack, moto_server.command(port), port, workdir / "moto.log")
    return f"http://127.0.0.1:{port}"


@contextmanager
def outage_for(broker: str, workdir: Path) -> Iterator[Outage]:
    """A broker of kind `broker` for one test, and the way to take it away."""
    with ExitStack() as stack:
        port = free_port()
        outage: Outage
        if broker == "redis":
            data = workdir / "redis-data"
            data.mkdir()
            cmd = ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", ""]
            cmd += ["--appendonly", "yes", "--appendfsync", "always", "--dir", str(data)]
            server = _server(stack, cmd, port, workdir / "redis.log")
            outage = StoppedServer(server, BrokerEndpoint("redis", f"redis://127.0.0.1:{port}/0"))
        elif broker == "nats":
            nats = shutil.which("nats-server") or "/usr/sbin/nats-server"
            cmd = [nats, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(workdir / "js")]
            server = _server(stack, cmd, port, workdir / "nats.log")
            outage = StoppedServer(server, BrokerEndpoint("nats", f"nats://127.0.0.1:{port}"))
        elif broker == "kafka":
            s3 = _moto(stack, workdir)
            _create_bucket(s3, "tansu")
            address = f"tcp://127.0.0.1:{port}"
            cmd = [tansu_binary(), "broker", "--listener-url", address]
            cmd += ["--advertised-listener-url", address, "--storage-engine", "s3://tansu/"]
            s3_env = {**AWS_ENV, "AWS_ENDPOINT": s3, "AWS_ALLOW_HTTP": "true"}
            server = _server(stack, cmd, port, workdir / "tansu.log", **s3_env)
            outage = StoppedServer(server, BrokerEndpoint("kafka", f"kafka://127.0.0.1:{port}"))
        elif broker == "rabbitmq":
            direct = require("rabbitmq")
            proxy = stack.enter_context(TcpProxy("127.0.0.1", 5672))
            through = direct.replace("127.0.0.1:5672", f"127.0.0.1:{proxy.port}")
            outage = CutProxy(
                proxy, BrokerEndpoint("rabbitmq", through), BrokerEndpoint("rabbitmq", direct)
            )
        elif broker == "sqs":
            direct = _moto(stack, workdir)
            moto_port = int(direct.rsplit(":", 1)[1])
            proxy = stack.enter_context(TcpProxy("127.0.0.1", moto_port))
            through = f"http://127.0.0.1:{proxy.port}"
            outage = CutProxy(
                proxy,
                BrokerEndpoint("sqs", through, dict(AWS_ENV)),
                BrokerEndpoint("sqs", direct, dict(AWS_ENV)),
            )
        else:
            raise ValueError(f"no outage for broker {broker!r}")
        yield outage


def _create_bucket(endpoint: str, bucket: str) -> None:
    import boto3

    session = boto3.session.Session(
        aws_access_key_id=AWS_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"],
        region_name=AWS_ENV["AWS_DEFAULT_REGION"],
    )
    session.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
