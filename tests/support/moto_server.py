"""moto's server (the SQS and DynamoDB stand-in), with one race of its SQS model closed.

moto 5.x `Queue.delete_message` rebuilds the queue's message list and assigns it back without
holding the queue's `_messages_lock`, which `add_message` holds to append. moto's server handles
requests in threads, so two DeleteMessage calls at once can each rebuild the list from the same
snapshot, and the later assignment brings back the message the other one deleted (it reappears
after the visibility timeout with ApproximateReceiveCount 2, although its delete answered 200);
a SendMessage in between is lost outright. Real SQS deletes atomically. Seen as "3 duplicates
after a drain" in the worker's SIGTERM test under load, and traced to this with receive counts
and message ids logged: every duplicate was the same message id, deleted once with HTTP 200,
delivered again 15 s (the visibility timeout) later.

moto 5.x also makes every SQS call cost time in proportion to the messages in the queue, at
~12 us per message and scan: `Message.visible` and `.delayed` read the clock through
`moto.core.utils.unix_time` (a timezone-aware `datetime.now`, made naive, minus the epoch),
GetQueueAttributes scans the queue four times whatever attribute is asked for, and ReceiveMessage
runs GetQueueAttributes again for every message it returns (a retention check). Measured with
600 messages in a queue on the shared 2-core machine (load ~6): GetQueueAttributes 66 ms of CPU,
a ReceiveMessage of 4 messages 388 ms; all behind one GIL, so a worker draining a backlog kept
the server busy and its readiness check (one GetQueueAttributes) waited 0.5-2.2 s for an answer
(traced through the test's proxy: the request reached moto at once, the answer came seconds
later, together with every other call in flight) -- "no answer within 2s" before any outage.
Real SQS answers these calls in milliseconds whatever the backlog. The same clock read as
`time.time()` (seconds since the epoch, UTC, as moto computes it) costs ~0.1 us: the same calls
then take 2.6 ms and 10 ms at that backlog; nothing else changes.

Start it with `command(port)` (moto_server's own arguments):
the delete takes the queue's lock (a `threading.Condition` over an RLock, so re-entry is safe),
the SQS model reads the cheap clock, then moto's server starts as `moto_server` would.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any


def command(port: int, host: str = "127.0.0.1") -> list[str]:
    """The command line that starts this server on host:port."""
    return [sys.executable, str(Path(__file__).resolve()), "-H", host, "-p", str(port)]


def close_the_delete_race() -> None:
    from moto.sqs import models

    original = models.Queue.delete_message
    if getattr(original, "_newservice_locked", False):
        return

    def delete_message(self: Any, receipt_handle: str) -> None:
        with self._messages_lock:
            original(self, receipt_handle)

    delete_message._newservice_locked = True  # type: ignore[attr-defined]
    models.Queue.delete_message = delete_message  # type: ignore[method-assign]


def use_a_cheap_clock() -> None:
    """The SQS model's clock as `time.time()`: the same value, without a datetime per read."""
    import time

    from moto.sqs import models

    original = models.unix_time
    if getattr(original, "_newservice_cheap", False):
        return

    def unix_time(dt: Any = None) -> float:
        return time.time() if dt is None else float(original(dt))

    def unix_time_millis(dt: Any = None) -> float:
        return unix_time(dt) * 1000.0

    unix_time._newservice_cheap = True  # type: ignore[attr-defined]
    models.unix_time = unix_time  # type: ignore[assignment]
    models.unix_time_millis = unix_time_millis  # type: ignore[assignment]


if __name__ == "__main__":
    close_the_delete_race()
    use_a_cheap_clock()
    from moto.server import main

    main()
