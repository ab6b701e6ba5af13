"""moto's server (the SQS and DynamoDB stand-in), with two races of its models closed.

moto 5.x `Queue.delete_message` rebuilds the queue's message list and assigns it back without
holding the queue's `_messages_lock`, which `add_message` holds to append. moto's server handles
requests in threads, so two DeleteMessage calls at once can each rebuild the list from the same
snapshot, and the later assignment brings back the message the other one deleted (it reappears
after the visibility timeout with ApproximateReceiveCount 2, although its delete answered 200);
a SendMessage in between is lost outright. Real SQS deletes atomically. Seen as "3 duplicates
after a drain" in the worker's SIGTERM test under load, and traced to this with receive counts
and message ids logged: every duplicate was the same message id, deleted once with HTTP 200,
delivered again 15 s (the visibility timeout) later.

moto 5.x `DynamoDBBackend.transact_write_items` takes a deep copy of each table it writes,
applies its items one by one, and on a failed condition puts the copies back, with no lock. A
write that another request thread commits meanwhile is then undone: the worker's duplicate
copies (one transaction commits an event, a concurrent one finds its inbox item and is
cancelled) could erase the committed one. Real DynamoDB isolates transactions (serializable)
from each other and from single-item writes. Here every DynamoDB request takes one lock, so
moto applies them one at a time: it then cannot show TransactionConflict cancellations, which
concurrent transactions on the same item get from AWS (the worker's retry handles those).

That deep copy is also taken once per item of the transaction, of the whole table: a transaction
of 100 items on a table of 2,000 took 10 s here, past the worker's 10 s read timeout. With the
requests serialized, the snapshot can be cheap: one per table per transaction, copying the
table's item map one level deep (each item and its attribute map), which undoes what a Put, a
Delete or an Update of top-level attributes did.

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
the SQS model reads the cheap clock, DynamoDB requests take one lock, then moto's server starts
as `moto_server` would.
"""

from __future__ import annotations

import copy
import sys
import threading
from collections import defaultdict
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


def serialize_dynamodb() -> None:
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.call_action
    if getattr(original, "_newservice_locked", False):
        return
    lock = threading.Lock()

    def call_action(self: Any) -> Any:
        with lock:
            return original(self)

    call_action._newservice_locked = True  # type: ignore[attr-defined]
    DynamoHandler.call_action = call_action  # type: ignore[method-assign]


def _item_copy(item: Any) -> Any:
    copied = copy.copy(item)
    copied.attrs = copy.copy(item.attrs)
    return copied


def _table_snapshot(table: Any) -> Any:
    """The table with its items copied one level deep (what a failed transaction puts back)."""
    copied = copy.copy(table)
    if table.has_range_key:
        items = {h: {r: _item_copy(i) for r, i in rs.items()} for h, rs in table.items.items()}
    else:
        items = {h: _item_copy(i) for h, i in table.items.items()}
    copied.items = defaultdict(dict, items)
    return copied


class _Snapshots:
    """Stands in for the `copy` module inside moto's transact_write_items: a table is copied
    once per transaction, cheaply; anything else as `copy` would."""

    def __init__(self) -> None:
        self._taken: dict[int, Any] = {}

    def deepcopy(self, value: Any) -> Any:
        from moto.dynamodb.models.table import Table

        if not isinstance(value, Table):
            return copy.deepcopy(value)
        if id(value) not in self._taken:
            self._taken[id(value)] = _table_snapshot(value)
        return self._taken[id(value)]

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


def cheap_transaction_snapshots() -> None:
    """Only with serialize_dynamodb(): swaps moto's `copy` for the length of one transaction."""
    from moto.dynamodb import models

    original = models.DynamoDBBackend.transact_write_items
    if getattr(original, "_newservice_cheap", False):
        return

    def transact_write_items(self: Any, transact_items: Any) -> Any:
        real = models.copy  # type: ignore[attr-defined]
        models.copy = _Snapshots()  # type: ignore[attr-defined]
        try:
            return original(self, transact_items)
        finally:
            models.copy = real  # type: ignore[attr-defined]

    transact_write_items._newservice_cheap = True  # type: ignore[attr-defined]
    models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


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
    serialize_dynamodb()
    cheap_transaction_snapshots()
    use_a_cheap_clock()
    from moto.server import main

    main()
