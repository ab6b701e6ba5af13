"""`check --live`: start the service as its README says and hold it to the runtime contract.

`python -m <package>` with the environment given (the current one plus --env KEY=VALUE, PORT
chosen free unless given, the repo on PYTHONPATH so an uninstalled checkout runs too); then:
/startupz answers 200 within the startup timeout, /healthz and /readyz 200, /metrics parses as
Prometheus text (prometheus_client's own parser), every stdout line is a JSON object with time,
level, message and logger, and SIGTERM ends it with status 0 within SHUTDOWN_TIMEOUT.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from .findings import Report

LOG_KEYS = ("time", "level", "message", "logger")
# The service listens on loopback: never through an HTTP(S)_PROXY from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class LiveOptions:
    python: str
    package: str
    env: dict[str, str] = field(default_factory=dict)
    shutdown_timeout: float = 30
    startup_timeout: float = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(url: str, timeout: float = 5) -> tuple[int | None, str]:
    """(status, body) of a GET; status None when nothing answers."""
    try:
        with _OPENER.open(url, timeout=timeout) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")
    except (urllib.error.URLError, OSError):
        return None, ""


def check_live(repo: Path, options: LiveOptions, report: Report) -> None:
    port = options.env.get("PORT") or str(free_port())
    base = f"http://127.0.0.1:{port}"
    command = f"python -m {options.package}"
    path = os.pathsep.join(p for p in (str(repo), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, **options.env, "PORT": port, "PYTHONPATH": path}
    with tempfile.TemporaryDirectory(prefix="newservice-check-") as scratch:
        stdout_path, stderr_path = Path(scratch) / "stdout", Path(scratch) / "stderr"
        with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
            process = subprocess.Popen(
                [options.python, "-m", options.package],
                cwd=repo,
                env=env,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        try:
            if _started(process, base, options, stderr_path, command, report):
                _check_probes_and_metrics(base, command, report)
                _check_sigterm(process, options, command, report)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        _check_logs(stdout_path.read_text(errors="replace"), command, report)


def _started(
    process: subprocess.Popen[bytes],
    base: str,
    options: LiveOptions,
    stderr_path: Path,
    command: str,
    report: Report,
) -> bool:
    deadline = time.monotonic() + options.startup_timeout
    status: int | None = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = stderr_path.read_text(errors="replace").strip().splitlines()[-1:]
            found = f"it exited with status {process.returncode} first" + (
                f" ({tail[0][:300]})" if tail else ""
            )
            return report.expect(False, command, "GET /startupz", "200 once started", found)
        status, _ = get(base + "/startupz", timeout=2)
        if status == 200:
            return report.expect(True, command, "GET /startupz", "200 once started", "")
        time.sleep(0.1)
    found = f"{status or 'no answer'} after {options.startup_timeout:g} s"
    return report.expect(False, command, "GET /startupz", "200 once started", found)


def _check_probes_and_metrics(base: str, command: str, report: Report) -> None:
    status, body = get(base + "/healthz")
    report.expect(status == 200, command, "GET /healthz", "200", _answer(status, body))
    deadline = time.monotonic() + 10  # dependencies may take a moment after startup
    status, body = get(base + "/readyz")
    while status != 200 and time.monotonic() < deadline:
        time.sleep(0.2)
        status, body = get(base + "/readyz")
    report.expect(
        status == 200, command, "GET /readyz", "200 when dependencies answer", _answer(status, body)
    )
    status, body = get(base + "/startupz")
    report.expect(
        status == 200, command, "GET /startupz", "200 once started", _answer(status, body)
    )
    status, body = get(base + "/metrics")
    if report.expect(status == 200, command, "GET /metrics", "200", _answer(status, body)):
        from prometheus_client.parser import text_string_to_metric_families

        try:
            families = list(text_string_to_metric_families(body))
        except (ValueError, TypeError, IndexError) as error:
            problem = f"text the Prometheus parser rejects ({error})"
            report.expect(False, command, "GET /metrics", "Prometheus text format", problem)
            return
        report.expect(
            bool(families), command, "GET /metrics", "Prometheus text format", "no metric"
        )


def _check_sigterm(
    process: subprocess.Popen[bytes], options: LiveOptions, command: str, report: Report
) -> None:
    contract = f"exit status 0 within SHUTDOWN_TIMEOUT ({options.shutdown_timeout:g} s) of SIGTERM"
    start = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(timeout=options.shutdown_timeout)
    except subprocess.TimeoutExpired:
        report.expect(False, command, "SIGTERM", contract, "still running (killed)")
        return
    elapsed = time.monotonic() - start
    report.expect(code == 0, command, "SIGTERM", contract, f"status {code} after {elapsed:.1f} s")


def _check_logs(stdout: str, command: str, report: Report) -> None:
    contract = "one JSON object per stdout line with " + ", ".join(LOG_KEYS)
    lines = [line for line in stdout.splitlines() if line.strip()]
    if not report.expect(bool(lines), f"{command} stdout", "logs", contract, "no output"):
        return
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            record = None
        if not isinstance(record, dict):
            found = f"line {number} is not a JSON object: {line[:120]!r}"
            report.expect(False, f"{command} stdout", "logs", contract, found)
            return
        missing = [key for key in LOG_KEYS if key not in record]
        if missing:
            found = f"line {number} has no {', '.join(missing)}: {line[:120]!r}"
            report.expect(False, f"{command} stdout", "logs", contract, found)
            return
    report.expect(True, f"{command} stdout", "logs", contract, "")


def _answer(status: int | None, body: str) -> str:
    return "no answer" if status is None else f"{status} {body.strip()[:160]}"
