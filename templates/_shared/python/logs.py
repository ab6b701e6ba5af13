"""JSON logs on stdout: one object per line with time, level, message and logger, plus the request
id and the trace/span ids whenever they are known.

python-json-logger is a plain `logging.Formatter`, so everything that logs through the standard
library (uvicorn, SQLAlchemy, Alembic, asyncpg, this service) comes out as the same JSON with no
extra wiring. structlog would need its stdlib bridge configured to reach the same result and adds a
second logging API; the standard `logging.getLogger(__name__)` is all the code here needs.
"""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from typing import Any

from opentelemetry import trace
from pythonjsonlogger.json import JsonFormatter

# Set by the request middleware (or a message handler) for the duration of one unit of work.
request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

# Loggers that libraries configure with handlers of their own; ours must be the only output.
_LIBRARY_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "alembic", "sqlalchemy")


class ContextFilter(logging.Filter):
    """Adds request_id, trace_id and span_id to a record when they are known (never as null)."""

    def filter(self, record: logging.LogRecord) -> bool:
        # uvicorn attaches an ANSI-coloured copy of its message: terminal decoration, not data.
        record.__dict__.pop("color_message", None)
        request_id = request_id_var.get()
        if request_id is not None:
            record.request_id = request_id
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            record.trace_id = format(context.trace_id, "032x")
            record.span_id = format(context.span_id, "016x")
        return True


def json_formatter(static_fields: dict[str, Any] | None = None) -> JsonFormatter:
    """The formatter: `time` (ISO 8601, UTC), `level`, `message`, `logger`, then any extras."""
    return JsonFormatter(
        "%(levelname)s %(name)s %(message)s",
        rename_fields={"levelname": "level", "name": "logger"},
        timestamp="time",
        static_fields=static_fields or {},
    )


def configure_logging(level: str = "INFO", static_fields: dict[str, Any] | None = None) -> None:
    """Send every log record of the process, as JSON, to stdout (replaces earlier configuration)."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(json_formatter(static_fields))
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in _LIBRARY_LOGGERS:
        library_logger = logging.getLogger(name)
        library_logger.handlers.clear()
        library_logger.propagate = True
    # Python warnings become log records too, instead of plain text on stderr.
    logging.captureWarnings(True)
