"""The probe state of a service: started, draining, and the readiness checks of its dependencies.

Kubernetes asks three questions, answered here with a status and a JSON body:
- liveness (`/healthz`): can the process serve? Always yes while it runs: a dependency outage must
  not restart pods, so no check runs here.
- startup (`/startupz`): has initialisation finished?
- readiness (`/readyz`): should traffic come here? Not while draining after SIGTERM, and not while
  a dependency check fails; the body names every failing check.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

# A readiness check returns when its dependency answers and raises (anything) when it does not.
Check = Callable[[], Awaitable[None]]

ProbeResult = tuple[bool, dict[str, Any]]


class Lifecycle:
    """Started/draining flags and named readiness checks, each bounded by `check_timeout` s."""

    def __init__(self, check_timeout: float = 2.0) -> None:
        self.check_timeout = check_timeout
        self.started = False
        self.draining = False
        self._checks: dict[str, Check] = {}

    def add_check(self, name: str, check: Check) -> None:
        """Make readiness depend on `check` (e.g. "database": run SELECT 1)."""
        self._checks[name] = check

    def mark_started(self) -> None:
        """Initialisation finished: startup succeeds and readiness starts running its checks."""
        self.started = True

    def start_draining(self) -> None:
        """SIGTERM arrived: readiness fails from now on, whatever the checks say."""
        self.draining = True

    def liveness(self) -> ProbeResult:
        return True, {"status": "ok"}

    def startup(self) -> ProbeResult:
        if self.started:
            return True, {"status": "ok"}
        return False, {"status": "starting", "failing": ["startup"]}

    async def readiness(self) -> ProbeResult:
        if self.draining:
            return False, {"status": "draining", "failing": ["draining"]}
        if not self.started:
            return False, {"status": "starting", "failing": ["startup"]}
        names = list(self._checks)
        outcomes = await asyncio.gather(*(self._run(self._checks[name]) for name in names))
        checks = dict(zip(names, outcomes, strict=True))
        failing = [name for name, outcome in checks.items() if outcome != "ok"]
        status = "unavailable" if failing else "ok"
        return not failing, {"status": status, "failing": failing, "checks": checks}

    async def _run(self, check: Check) -> str:
        try:
            await asyncio.wait_for(check(), timeout=self.check_timeout)
        except TimeoutError:
            return f"no answer within {self.check_timeout:g}s"
        except Exception as error:  # any failure of a dependency means "not ready", with why
            return f"{type(error).__name__}: {error}".strip().rstrip(":")
        return "ok"
