"""Command line: `python -m <package>` runs the worker; `migrate`, `publish`, `dead-letters`."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from collections.abc import Sequence

from . import __version__
from .observability.logs import configure_logging
from .observability.metrics import set_build_info
from .observability.tracing import configure_tracing, shutdown_tracing
from .settings import Settings, get_settings
from .stores import ConfigurationError

logger = logging.getLogger(__name__)
EXIT_CONFIGURATION = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m {__package__}", description=__doc__)
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("run", help="consume events (the default)")
    commands.add_parser("migrate", help="apply database migrations (safe to run concurrently)")
    publish = commands.add_parser("publish", help="publish example order.created events")
    publish.add_argument("--count", type=int, default=1, help="how many events (default 1)")
    publish.add_argument("--id", dest="event_id", help="event id to use for every event")
    dead = commands.add_parser("dead-letters", help="print dead-lettered messages as JSON lines")
    dead.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "publish" and args.count < 1:
        parser.error("--count must be at least 1")
    settings = get_settings()
    # `dead-letters` prints its findings on stdout: keep routine log lines out of them.
    level = "WARNING" if args.command == "dead-letters" else settings.LOG_LEVEL
    configure_logging(level, {"service": settings.SERVICE_NAME})
    provider = configure_tracing(settings.SERVICE_NAME, __version__)
    try:
        if provider is not None and args.command in (None, "run"):
            from .stores import instrument

            instrument(provider)
        return _run(args, settings)
    except ConfigurationError as error:
        # One JSON log line naming the variable, no traceback; nothing was connected to.
        logger.error("invalid configuration: %s", error)
        return EXIT_CONFIGURATION
    finally:
        shutdown_tracing(provider)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "migrate":
        from .stores import migrate

        migrate(settings)
        return 0
    if args.command == "publish":
        from .publisher import publish_examples

        asyncio.run(publish_examples(settings, args.count, args.event_id))
        return 0
    if args.command == "dead-letters":
        from .publisher import read_dead_letters

        for body, reason in asyncio.run(read_dead_letters(settings, args.limit)):
            print(json.dumps({"reason": reason, "body": body.decode("utf-8", "replace")}))
        return 0
    from .runner import run_worker

    set_build_info(settings.SERVICE_NAME, __version__)
    return asyncio.run(run_worker(settings))
