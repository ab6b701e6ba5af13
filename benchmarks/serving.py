"""What the HTTP benchmarks share: a server process on a free loopback port, wrk against it, and
rounds interleaved across apps so that machine noise hits all alike."""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SERVER = "postgresql://postgres@127.0.0.1:5432"
WARMUP_DRAIN_SECONDS = 0.5
ORDER = {"customer_id": "bench", "items": [{"sku": "SKU-1", "quantity": 1, "unit_price": "9.99"}]}
# The generated service's uvicorn settings (its server.py), for apps written as strings.
UVICORN_FLAGS = "loop='uvloop', http='httptools', access_log=False, log_level='warning'"
REFERENCES = Path(__file__).resolve().parent / "references"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def status_of(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


@contextmanager
def process(
    cmd: list[str], env: dict[str, str], cwd: Path, ready: str, stop_timeout: float = 30
) -> Iterator[tuple[subprocess.Popen[bytes], str, float]]:
    """Start `cmd`; yield it, its base URL and seconds from spawn to `ready` answering 200."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    full_env = {**os.environ, **env, "PORT": str(port)}
    # stderr goes to a file, not a pipe: a pipe nobody reads fills up (64 KiB) under a load that
    # logs, and the app then blocks on its next log line, which wrk sees as socket errors.
    with tempfile.TemporaryFile() as log:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=full_env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=log)
        try:
            while status_of(base + ready) != 200:
                if proc.poll() is not None:
                    log.seek(0)
                    raise RuntimeError(f"{cmd} exited: {log.read().decode(errors='replace')}")
                if time.perf_counter() - start > 30:
                    raise RuntimeError(f"{cmd} not ready in 30 s")
                time.sleep(0.005)
            yield proc, base, time.perf_counter() - start
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=stop_timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.seek(0)
            errors = log.read().decode(errors="replace")
            if "Traceback" in errors:  # say why responses failed, not only that they did
                print(f"{cmd[-1]} logged errors (last lines):\n{errors[-1500:]}", file=sys.stderr)


@dataclass(frozen=True)
class Load:
    """One wrk run: req/s counting 2xx answers only, p99 of all answers, and what went wrong."""

    rps: float
    p99_ms: float
    count: int
    not_2xx: int
    timeouts: int
    errors: int  # connect/read/write errors

    def __iter__(self) -> Iterator[float]:  # (req/s, p99 ms, count), as callers unpack it
        return iter((self.rps, self.p99_ms, self.count))


def wrk(
    url: str,
    duration: float,
    connections: int,
    headers: tuple[str, ...] = (),
    timeout: float = 10,
    strict: bool = True,
) -> Load:
    """One wrk run (one thread). `strict`: socket errors and timeouts fail the benchmark; else
    they are counted (a reference that deadlocks is measured as it is)."""
    header_flags = [flag for header in headers for flag in ("-H", header)]
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{duration:g}s", "--timeout", f"{timeout:g}s",
         "--latency", *header_flags, url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    count = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    errors, timeouts = 0, 0
    if socket_errors:
        connect, read, write, timeouts = (int(n) for n in socket_errors.groups())
        errors = connect + read + write
        if strict:
            raise RuntimeError(f"wrk saw socket errors against {url}:\n{out}")
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    not_2xx = int(failed.group(1)) if failed else 0
    if not_2xx:  # 504 past the deadline or 503 shed: reported, and not counted as served
        print(f"{url}: {not_2xx} of {count} responses not 2xx", file=sys.stderr)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    if count:
        rps *= (count - not_2xx) / count
    latency = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    p99 = float("nan")
    if latency:
        p99 = float(latency.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[latency.group(2)]
    return Load(rps, p99, count, not_2xx, timeouts, errors)


@dataclass(frozen=True)
class App:
    """A server to measure: its command, environment, readiness path and the headers wrk sends."""

    cmd: list[str]
    env: dict[str, str]
    ready: str
    headers: tuple[str, ...] = ()
    strict: bool = True  # False: socket errors and timeouts are counted, not fatal
    path: str | None = None  # its own path, when it is not the one of the others
    timeout: float = 10  # seconds wrk waits for an answer before counting a timeout
    warmup: bool = True  # False: measured from its first request (one that stalls for good)


def reference(python: str, name: str, env: dict[str, str] | None = None) -> App:
    """One of benchmarks/references/, served as the generated service is."""
    return App([python, str(REFERENCES / f"{name}.py")], env or {}, "/healthz")


def interleaved(
    apps: dict[str, App], path: str, args: argparse.Namespace, cwd: Path
) -> dict[str, list[Load]]:
    """wrk on `path` of each app, rounds interleaved (A, B, C, A, B, C, ...), a fresh process
    each time and a 1 s warm-up (unless the app says not to); one Load per app and round."""
    runs: dict[str, list[Load]] = {name: [] for name in apps}
    for _ in range(args.rounds):
        for name, app in apps.items():
            with process(app.cmd, app.env, cwd, app.ready, 10) as (_, base, _):
                url = base + (app.path or path)
                settings = (app.headers, app.timeout, app.strict)
                if app.warmup:
                    wrk(url, 1, args.connections, *settings)
                    # wrk leaves its last requests running in the server: let them end, or the
                    # measured run's new connections find twice the connections' requests in
                    # flight (the generated service sheds beyond MAX_IN_FLIGHT, 80).
                    time.sleep(WARMUP_DRAIN_SECONDS)
                load = wrk(url, args.duration, args.connections, *settings)
                runs[name].append(load)
    return runs


def med(runs: list[Load]) -> tuple[float, float]:
    """Median req/s and median p99 ms of some runs."""
    return statistics.median(r.rps for r in runs), statistics.median(r.p99_ms for r in runs)


def psql(*sql: str) -> None:
    for statement in sql:
        subprocess.run(
            ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", statement],
            check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
