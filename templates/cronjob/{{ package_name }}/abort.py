"""SIGTERM and SIGINT abort the run: the signal becomes an exception in the main thread.

Raising from the handler unwinds whatever the run is doing (waiting on the database, sleeping),
so the open transaction rolls back at once and nothing half-done is ever committed. `Aborted`
derives from BaseException so that no `except Exception` in the work can swallow it.
"""

from __future__ import annotations

import signal
from types import FrameType

ABORT_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Aborted(BaseException):
    """The run was asked to stop by a signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum

    @property
    def exit_status(self) -> int:
        """The shell convention for death by a signal: 128 + its number (143 for SIGTERM)."""
        return 128 + self.signum


def _abort(signum: int, _frame: FrameType | None) -> None:
    # Only the first signal aborts; a second one must not interrupt the rollback and the report.
    for sig in ABORT_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    raise Aborted(signum)


def abort_on_signals() -> None:
    """From now on, SIGTERM or SIGINT raise `Aborted` in the main thread."""
    for sig in ABORT_SIGNALS:
        signal.signal(sig, _abort)


def restore_default_signals() -> None:
    """Undo `abort_on_signals`: SIGTERM terminates the process again, SIGINT interrupts it."""
    for sig in ABORT_SIGNALS:
        signal.signal(sig, signal.SIG_DFL if sig == signal.SIGTERM else signal.default_int_handler)
