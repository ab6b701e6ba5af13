"""A rendered worker repo run as a real process, as the worker's live tests drive it.

`WorkerRepo` renders nothing itself: a test module renders the repo, builds its venv and hands
over the broker endpoint; this starts `python -m <package>` (or a wrapper), reads its probes and
metrics, and counts the effects in its store (tests/support/stores.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from .brokers import BrokerEndpoint, free_port
from .stores import counts as counts  # re-exported: the live tests count effects with it
from .stores import progress, store_environment
from .venv import run_in

PACKAGE = "notifications"
# What processing.py logs, with the event's id, for a delivery its inbox already had.
DUPLICATE_MESSAGE = "duplicate event acked without effect"


def eventually(check: Callable[[], bool], within: float, what: str, poll: float = 0.1) -> None:
    """Poll `check` until it is true; fail naming `what` after `within` seconds."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {within:g} s waiting for {what}")
        time.sleep(poll)


@dataclass
class WorkerRepo:
    """A rendered worker repo, its venv, and the broker it talks to."""

    broker: str
    repo: Path
    venv: Path
    endpoint: BrokerEndpoint
    database: str = "postgresql"

    def environment(self, database_url: str, queue: str, **extra: str) -> dict[str, str]:
        return {
            **self.endpoint.environment(),
            **store_environment(database_url),
            "QUEUE_NAME": queue,
            "CONSUMER_GROUP": f"group-{queue}",
            "LOG_LEVEL": "INFO",
            # A killed worker's messages come back after 5 s instead of 30 (NATS, SQS, Redis).
            "REDELIVERY_TIMEOUT": "5",
            **extra,
        }

    def cli(self, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
        result = run_in(self.repo, self.venv, "python", "-m", PACKAGE, *args, env=env, timeout=180)
        assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
        return result

    def start(self, env: dict[str, str], log: Path, wrapper: Path | None = None) -> RunningWorker:
        port = free_port()
        full = {
            **os.environ,
            **env,
            "PORT": str(port),
            "PATH": f"{self.venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
            "PYTHONPATH": str(self.repo),
        }
        cmd = ["python", str(wrapper)] if wrapper else ["python", "-m", PACKAGE]
        out = log.open("ab")
        process = subprocess.Popen(
            cmd, cwd=self.repo, env=full, stdout=out, stderr=subprocess.STDOUT
        )
        out.close()
        worker = RunningWorker(process, port, log)
        eventually(worker.started, 60, f"{self.broker} worker start-up (log: {log})")
        return worker


@dataclass
class RunningWorker:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"http://127.0.0.1:{self.port}{path}", timeout=5)

    def started(self) -> bool:
        assert self.process.poll() is None, f"worker exited early:\n{self.log.read_text()[-3000:]}"
        try:
            return self.get("/startupz").status_code == 200
        except httpx.TransportError:
            return False

    def metric(self, name: str) -> float:
        """Sum of every sample of counter/gauge `name` (all label values)."""
        families = text_string_to_metric_families(self.get("/metrics").text)
        return sum(
            sample.value for family in families for sample in family.samples if sample.name == name
        )

    def stop(self, sig: signal.Signals, within: float) -> int:
        self.process.send_signal(sig)
        return self.process.wait(within)

    def log_size(self) -> int:
        """Where the log ends now: `duplicates_logged(since=...)` reads what comes after it."""
        return self.log.stat().st_size

    def duplicates_logged(self, since: int = 0) -> list[str]:
        """The event id of every duplicate the worker logged past byte `since`, in order (its
        JSON log names each one; the duplicates metric only counts them)."""
        with self.log.open("rb") as log:
            log.seek(since)
            lines = log.read().splitlines()
        ids = []
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:  # a line still being written, or not JSON (a traceback)
                continue
            if isinstance(record, dict) and record.get("message") == DUPLICATE_MESSAGE:
                ids.append(str(record["event_id"]))
        return ids


def wait_for_rows(database_url: str, expected: int, within: float) -> None:
    eventually(lambda: progress(database_url) >= expected, within, f"{expected} notifications")


# A worker whose notifier fails for one event id and can be slowed down: the poison and SIGTERM
# scenarios. It patches the one function a team replaces, exactly as a team's own code would.
WRAPPER = """
import asyncio, os, sys
from {package} import notifier
from {package}.cli import main

real_send = notifier.send
POISON = os.environ.get("TEST_POISON_EVENT_ID")
DELAY = float(os.environ.get("TEST_SEND_DELAY", "0"))

async def send(notification):
    if notification.event_id == POISON:
        raise RuntimeError("poison event: the handler always fails")
    if DELAY:
        await asyncio.sleep(DELAY)
    await real_send(notification)

notifier.send = send
sys.exit(main(sys.argv[1:]))
"""

# Publishes a steady stream: ROUNDS rounds of BATCH events, one round every 50 ms.
STREAM = """
import asyncio, sys
from {package}.brokers import create_broker
from {package}.events import example_event, structured
from {package}.settings import Settings

async def main(rounds, batch):
    broker = create_broker(Settings())
    await broker.connect()
    for _ in range(rounds):
        bodies = [structured(example_event()) for _ in range(batch)]
        await broker.publish(bodies, {{}})
        await asyncio.sleep(0.05)
    await broker.close()

asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
"""


def script(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text.format(package=PACKAGE))
    return path
