"""Command line: `python -m <package> [--slot ISO]` runs once; `... migrate` applies migrations.

Exit status: 0 when the slot's work is committed (by this run or an earlier one), 1 when the run
failed, 128 + the signal number when SIGTERM/SIGINT aborted it (143), 2 for bad configuration or
arguments (one sentence on stderr, nothing touched).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from datetime import datetime

from pydantic import ValidationError

from . import SERVICE_NAME, __version__
from .abort import Aborted, abort_on_signals, restore_default_signals
from .job import run_once
from .observability.logs import configure_logging
from .observability.tracing import configure_tracing, shutdown_tracing
from .pushgateway import push_run_metrics
from .schedule import SlotError, checked_slot, latest_slot
from .settings import Settings
from .stores import Store, migrate, open_store

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def iso_datetime(text: str) -> datetime:
    """An ISO 8601 date and time, e.g. 2026-11-25T02:00 or 2026-11-25T02:00:00+01:00."""
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not an ISO 8601 date and time such as 2026-11-25T02:00"
        ) from None


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=f"python -m {__package__}", description=__doc__)
    parser.add_argument(
        "command",
        nargs="?",
        choices=["run", "migrate"],
        default="run",
        help="run the job once (default) or prepare the database (migrations, indexes)",
    )
    parser.add_argument(
        "--slot",
        type=iso_datetime,
        metavar="ISO8601",
        help="backfill this scheduled slot instead of the latest one (overrides SLOT)",
    )
    return parser.parse_args(argv)


def load_settings() -> Settings:
    """The settings, or SystemExit(2) with one sentence naming the bad variable."""
    try:
        return Settings()
    except ValidationError as exc:
        error = exc.errors()[0]
        name = ".".join(str(part) for part in error["loc"])
        reason = error["msg"].removeprefix("Value error, ")
        print(f"{SERVICE_NAME}: bad setting {name}: {reason}", file=sys.stderr)  # noqa: T201
        raise SystemExit(EXIT_USAGE) from None


def resolve_slot(settings: Settings, requested: datetime | None) -> datetime:
    """The slot to run: --slot, else SLOT, else the schedule's latest fire time."""
    chosen = requested or settings.SLOT
    if chosen is None:
        return latest_slot(settings.SCHEDULE, settings.zone, datetime.now(settings.zone))
    try:
        return checked_slot(settings.SCHEDULE, settings.zone, chosen)
    except SlotError as exc:
        print(f"{SERVICE_NAME}: {exc}", file=sys.stderr)  # noqa: T201
        raise SystemExit(EXIT_USAGE) from None


def run(settings: Settings, slot: datetime) -> int:
    """Run the job once for `slot` and return the exit status; push metrics when configured."""
    started = time.monotonic()
    outcome, status = "failed", EXIT_FAILED
    store: Store | None = None
    try:
        store = open_store(settings)
        abort_on_signals()
        result = run_once(settings, store, slot)
        outcome, status = result.outcome, EXIT_OK
    except Aborted as exc:
        # The transaction has rolled back: exit non-zero so that the Job retries the slot.
        outcome, status = "aborted", exc.exit_status
        log.error("run aborted, nothing committed", extra={"reason": str(exc)})
    except Exception:
        log.exception("run failed, nothing committed", extra={"slot": slot.isoformat()})
    finally:
        # The unit of work is over (committed or undone): a signal from now on may simply end
        # the process; a retry finds the slot done or redoes it.
        restore_default_signals()
        if store is not None:
            store.close()
    duration = time.monotonic() - started
    if settings.PUSHGATEWAY_URL:
        push_run_metrics(settings.PUSHGATEWAY_URL, outcome, duration, settings.PUSH_TIMEOUT)
    log.info("run finished", extra={"outcome": outcome, "duration_seconds": round(duration, 3)})
    return status


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    settings = load_settings()
    configure_logging(settings.LOG_LEVEL, {"service": SERVICE_NAME})
    provider = configure_tracing(SERVICE_NAME, __version__)
    try:
        if args.command == "migrate":
            migrate(settings)
            return EXIT_OK
        return run(settings, resolve_slot(settings, args.slot))
    finally:
        shutdown_tracing(provider)  # flush the spans of this short-lived process
