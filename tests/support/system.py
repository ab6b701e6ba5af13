"""The lesson's exercise as real processes: a generated orders API (outbox + cache) and its
generated notifications worker, run from rendered repos (tests/test_system.py drives them).

`OrdersApi` starts `python -m orders` (or the crash wrapper below) with a rendered repo on
PYTHONPATH, posts and reads orders, and reads its metrics; the worker side is
tests/support/worker.py's `WorkerRepo`.
"""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from .brokers import free_port
from .worker import eventually

PACKAGE = "orders"
ORDER: dict[str, Any] = {
    "customer_id": "customer-42",
    "items": [{"sku": "BOOK-1", "quantity": 2, "unit_price": "12.50"}],
}

# The API with one change a test can switch on: while the file named by TEST_CRASH_FLAG exists,
# the process SIGKILLs itself right after the broker confirmed a batch and before the outbox
# marks the batch sent (the SQL transaction that deletes it commits; the document databases'
# delete): the worst moment for a crash (every event of the batch is published again after the
# restart, and the worker's inbox must absorb them). Whatever the database: it wraps the
# `relay` of the outbox that the database's module (`outbox.store`) opens (PostgreSQL's is a
# subclass of the SQL one).
CRASH_WRAPPER = """
import os, signal, sys
from {package} import outbox
from {package}.__main__ import main

FLAG = os.environ["TEST_CRASH_FLAG"]
real_open = outbox.store.open_outbox

def open_outbox(settings):
    opened = real_open(settings)
    real_relay = opened.relay

    async def relay(limit, publish, turn=None):
        async def publish_then_maybe_die(messages):
            await publish(messages)
            if os.path.exists(FLAG):
                os.kill(os.getpid(), signal.SIGKILL)
        return await real_relay(limit, publish_then_maybe_die, turn)

    opened.relay = relay
    return opened

outbox.store.open_outbox = open_outbox
sys.exit(main(sys.argv[1:]))
"""


@dataclass(frozen=True)
class OrdersRepo:
    """A rendered API repo and its venv."""

    repo: Path
    venv: Path

    def run(self, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(self.venv / "bin" / "python"), "-m", PACKAGE, *args],
            cwd=self.repo,
            env={**os.environ, **env, "PYTHONPATH": str(self.repo)},
            text=True,
            capture_output=True,
            timeout=180,
        )
        assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
        return result

    def start(
        self, env: dict[str, str], log: Path, wrapper: Path | None = None, wait: bool = True
    ) -> RunningApi:
        """Start the API; unless `wait` is false, return once /readyz answers 200."""
        port = free_port()
        full = {
            **{k: v for k, v in os.environ.items() if not k.startswith("OTEL_")},
            **env,
            "PORT": str(port),
            "PYTHONPATH": str(self.repo),
            # The auth answer (bearer JWT, on by default) is not what these tests are about.
            "AUTH_ENABLED": "false",
        }
        python = str(self.venv / "bin" / "python")
        cmd = [python, str(wrapper)] if wrapper else [python, "-m", PACKAGE]
        with log.open("ab") as out:
            process = subprocess.Popen(
                cmd, cwd=self.repo, env=full, stdout=out, stderr=subprocess.STDOUT
            )
        api = RunningApi(process, port, log)
        if wait:
            eventually(api.ready, 60, f"the orders API to be ready (log: {log})")
        return api

    def spawn(self, env: dict[str, str], log: Path, *args: str) -> RunningApi:
        """`python -m orders ARGS` (e.g. `relay`) on a free PORT, not waiting for anything."""
        port = free_port()
        full = {**os.environ, **env, "PORT": str(port), "PYTHONPATH": str(self.repo)}
        with log.open("ab") as out:
            process = subprocess.Popen(
                [str(self.venv / "bin" / "python"), "-m", PACKAGE, *args],
                cwd=self.repo,
                env=full,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return RunningApi(process, port, log)


@dataclass
class RunningApi:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ready(self) -> bool:
        code = self.process.poll()
        assert code is None, f"API exited early ({code}):\n{self.log.read_text()[-3000:]}"
        try:
            return httpx.get(self.url + "/readyz", timeout=5).status_code == 200
        except httpx.TransportError:
            return False

    def post_orders(self, count: int, client: httpx.Client) -> list[str]:
        """Post `count` orders; every answer must be 201. Their ids."""
        ids = []
        for _ in range(count):
            response = client.post(self.url + "/api/v1/orders", json=ORDER)
            assert response.status_code == 201, response.text
            ids.append(response.json()["id"])
        return ids

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples of `name` whose labels include `labels`."""
        text = httpx.get(self.url + "/metrics", timeout=5).text
        return sum(
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == name and labels.items() <= sample.labels.items()
        )

    def stop(self, within: float = 30) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(within)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)


def wrapper(tmp_path: Path) -> Path:
    path = tmp_path / "crash_wrapper.py"
    path.write_text(CRASH_WRAPPER.format(package=PACKAGE))
    return path
