"""SIGTERM and SIGINT abort the run: the signal becomes an exception in the main thread.

Raising from the handler unwinds whatever the run is doing (waiting on the database, sleeping),
so the open transaction rolls back at once and nothing half-done is ever committed. `Aborted`
derives from BaseException so that no `except Exception` in the work can swallow it.

Inside an asyncio event loop (an asyncio database client, see `run_abortable`) the loop's own
signal handlers cancel the running coroutine instead, and `Aborted` is raised once it unwound.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Coroutine
from types import FrameType
from typing import Any, TypeVar

T = TypeVar("T")

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


def run_abortable(runner: asyncio.Runner, work: Coroutine[Any, Any, T]) -> T:
    """Run `work` on the runner's loop; SIGTERM or SIGINT cancel it, then raise `Aborted`.

    An exception raised by a plain signal handler may land inside one of the loop's callbacks,
    which would log it and carry on. So while `work` runs (and only when `abort_on_signals` is
    in force), the loop's own handlers take the signals: they cancel `work`, whose `finally`
    blocks run, and then `Aborted` is raised here, as it would be in synchronous code.
    """
    if signal.getsignal(signal.SIGTERM) is not _abort:
        return runner.run(work)
    loop = runner.get_loop()
    received: list[int] = []

    async def cancellable() -> T:
        task = asyncio.current_task()
        if task is None:  # pragma: no cover - a coroutine run by a Runner always has its task
            raise RuntimeError("run_abortable: no current task")

        def on_signal(signum: int) -> None:
            if not received:
                received.append(signum)
                task.cancel()

        for sig in ABORT_SIGNALS:
            loop.add_signal_handler(sig, on_signal, sig)
        try:
            return await work
        finally:
            for sig in ABORT_SIGNALS:
                loop.remove_signal_handler(sig)
                # As `_abort` does: after the first signal, the next ones are ignored.
                signal.signal(sig, signal.SIG_IGN if received else _abort)

    try:
        result = runner.run(cancellable())
    except asyncio.CancelledError:
        if not received:
            raise
    if received:  # also when `work` swallowed the cancellation: the run was asked to stop
        raise Aborted(received[0])
    return result
