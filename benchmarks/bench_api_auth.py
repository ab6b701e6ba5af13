"""What bearer-token authentication costs the generated API: GET /api/v1/orders/{id} on
PostgreSQL with AUTH_ENABLED=false and with a token checked on every request, side by side.

    python benchmarks/bench_api_auth.py [--duration 8] [--rounds 3] [--connections 64]

Needs wrk and PostgreSQL on 127.0.0.1:5432 (trust auth). Renders the API template from this
working tree, builds its venv, and runs one service process per measurement (uvloop, httptools,
LOG_LEVEL=WARNING), rounds interleaved (off, on, off, on...) so that machine noise hits both
alike; medians. "on" trusts a local issuer (tests/support/jwt_issuer.py): RS256, a 2048-bit
key, the JWKS fetched once and cached, so the cost measured is the token check itself (header
parsing, RSA signature, claims, scopes) per request; wrk sends the same token every time.
Prints a Markdown section for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.jwt_issuer import issuer_for  # noqa: E402
from tests.support.render import render  # noqa: E402
from tests.support.venv import venv_for  # noqa: E402

SERVER = "postgresql://postgres@127.0.0.1:5432"
ORDER = {"customer_id": "bench", "items": [{"sku": "SKU-1", "quantity": 1, "unit_price": "9.99"}]}


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return int(response.status) == 200
    except OSError:
        return False


@contextmanager
def service(python: str, repo: Path, env: dict[str, str]) -> Iterator[str]:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [python, "-m", "orders"],
        env={**os.environ, **env, "PORT": str(port)},
        cwd=repo,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        started = time.monotonic()
        while not _ready(base + "/readyz"):
            if proc.poll() is not None or time.monotonic() - started > 30:
                raise RuntimeError(f"the service did not start: {proc.stderr.read()!r}")  # type: ignore[union-attr]
            time.sleep(0.01)
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def wrk(
    url: str, duration: float, connections: int, headers: dict[str, str]
) -> tuple[float, float]:
    """req/s and p99 in ms of one wrk run (one thread); fails on any non-2xx answer."""
    extra = [arg for name, value in headers.items() for arg in ("-H", f"{name}: {value}")]
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{duration:g}s", "--timeout", "10s", "--latency",
         *extra, url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    if re.search(r"Non-2xx or 3xx responses|Socket errors", out):
        raise RuntimeError(f"wrk saw errors against {url}:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    value, unit = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()  # type: ignore[union-attr]
    return rps, float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per mode")
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")

    load_before = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    work = Path(tempfile.mkdtemp(prefix="bench-api-auth-"))
    repo = render(work / "orders", "api", service_name="orders", database="postgresql")
    python = str(venv_for(repo) / "bin" / "python")
    issuer = issuer_for("orders")
    auth = {"Authorization": f"Bearer {issuer.token(['orders:read', 'orders:write'])}"}
    database = f"bench_{uuid.uuid4().hex[:12]}"
    psql = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc"]
    subprocess.run([*psql, f'CREATE DATABASE "{database}"'], check=True)
    base_env = {
        "PYTHONPATH": str(repo),
        "DATABASE_URL": f"{SERVER}/{database}",
        "LOG_LEVEL": "WARNING",
    }
    modes = {
        "auth off": ({**base_env, "AUTH_ENABLED": "false"}, {}),
        "auth on": ({**base_env, **issuer.settings()}, auth),
    }
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in modes}
    try:
        subprocess.run(
            [python, "-m", "orders", "migrate"], env={**os.environ, **base_env}, cwd=repo,
            check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        with service(python, repo, modes["auth on"][0]) as base:
            request = urllib.request.Request(
                base + "/api/v1/orders", data=json.dumps(ORDER).encode(),
                headers={"content-type": "application/json", **auth},
            )  # fmt: skip
            with urllib.request.urlopen(request) as response:
                order_id = json.loads(response.read())["id"]
        for _ in range(args.rounds):
            for name, (env, headers) in modes.items():
                with service(python, repo, env) as base:
                    url = f"{base}/api/v1/orders/{order_id}"
                    wrk(url, 1, args.connections, headers)  # warm-up
                    runs[name].append(wrk(url, args.duration, args.connections, headers))
    finally:
        subprocess.run([*psql, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'], check=False)
        shutil.rmtree(work, ignore_errors=True)

    med = {
        name: (statistics.median(r for r, _ in values), statistics.median(p for _, p in values))
        for name, values in runs.items()
    }
    off, on = med["auth off"], med["auth on"]
    print(
        f"### API authentication cost\n\n`python benchmarks/bench_api_auth.py --duration "
        f"{args.duration:g} --rounds {args.rounds} --connections {args.connections}`\n"
    )
    print(
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, load "
        f"average before the run {load_before}, wrk -t1 -c{args.connections}, RS256 2048-bit.\n"
    )
    print("| GET /api/v1/orders/{id}, PostgreSQL | req/s (median) | p99 ms (median) | runs |")
    print("|---|---|---|---|")
    for name in modes:
        rps, p99 = med[name]
        each = ", ".join(f"{r:,.0f}" for r, _ in runs[name])
        print(f"| {name} | {rps:,.0f} | {p99:.1f} | {each} |")
    print(f"| auth on / auth off | {on[0] / off[0]:.2f}x | | |")


if __name__ == "__main__":
    main()
