"""The retry policy: exponential backoff with jitter, a bounded number of attempts (tenacity)."""

from __future__ import annotations

import logging

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_not_exception_type,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)

from .events import MalformedEvent
from .metrics import RETRIED

logger = logging.getLogger(__name__)


def _before_sleep(state: RetryCallState) -> None:
    RETRIED.inc()
    error = state.outcome.exception() if state.outcome else None
    logger.warning(
        "attempt failed, retrying",
        extra={
            "attempt": state.attempt_number,
            "retry_in_s": round(state.upcoming_sleep, 3),
            "error": repr(error),
        },
    )


def retrying(max_attempts: int, initial_delay: float, max_delay: float) -> AsyncRetrying:
    """Retry any error but a malformed message, `max_attempts` in all, then re-raise the last.

    Jitter spreads the retries of many replicas that failed on the same outage over time.
    """
    return AsyncRetrying(
        stop=stop_after_attempt(max_attempts),
        wait=wait_exponential(multiplier=initial_delay, max=max_delay)
        + wait_random(0, initial_delay),
        retry=retry_if_not_exception_type(MalformedEvent),
        before_sleep=_before_sleep,
        reraise=True,
    )
