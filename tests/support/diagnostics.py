"""What a failed run prints about the machine: the state of the shared servers it ran against.

A test that hangs on a broker looks the same whatever the cause; a resource alarm of RabbitMQ
(low disk or memory: it then blocks every publishing connection), a full disk or a saturated
machine each leave a different trace here, so a red CI run names its cause.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from .services import SERVICES, is_listening


def _command(*args: str) -> str:
    if shutil.which(args[0]) is None:
        return f"{args[0]} is not installed here"
    try:
        run = subprocess.run(args, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return f"`{' '.join(args)}` did not answer within 60 s"
    return (run.stdout + run.stderr).strip()


def machine_report() -> list[str]:
    """One line per fact: servers answering, RabbitMQ's alarms, free disk, load."""
    lines = []
    for name, (host, port, _) in SERVICES.items():
        state = "answers" if is_listening(host, port) else "does NOT answer"
        lines.append(f"{name} on {host}:{port} {state}")
    lines.append("rabbitmq alarms: " + _command("rabbitmq-diagnostics", "-q", "alarms"))
    usage = shutil.disk_usage("/tmp")
    lines.append(f"free disk on /tmp: {usage.free // 2**20} MiB of {usage.total // 2**20} MiB")
    lines.append("load average (1, 5, 15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    return lines
