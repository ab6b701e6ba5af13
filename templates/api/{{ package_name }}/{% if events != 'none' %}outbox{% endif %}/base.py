"""What the relay needs from an outbox and from a broker: the whole contract of their modules.

An outbox is one module per database (`sql.py` for PostgreSQL and MySQL, `mongodb.py`,
`dynamodb.py`) with `add` (the event, in the order's transaction), `open_outbox` and the
`Outbox` methods below; a broker is one module per broker in
`publishers/` with the `Publisher` methods. The relay (relay.py) knows nothing else of either.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import MappingProxyType
from typing import NamedTuple, Protocol

NO_HEADERS: Mapping[str, str] = MappingProxyType({})


class OutboxMessage(NamedTuple):
    """One event as stored: its id (the CloudEvent's `id`, the outbox row's key), the body in
    the JSON event format (structured content mode) and the headers to send with it (trace
    context). Stored once, when the order is written, so every publication is byte-identical.
    A NamedTuple (immutable, like a frozen dataclass): the relay builds one per event, and a
    tuple is built in a fraction of a frozen dataclass's time."""

    id: str
    body: bytes
    headers: Mapping[str, str] = NO_HEADERS


Publish = Callable[[Sequence[OutboxMessage]], Awaitable[None]]
# Awaited by an outbox right before it claims: False means claim nothing (return 0).
Turn = Callable[[], Awaitable[bool]]


class Outbox(Protocol):
    """The events written with the changes they announce, waiting to be published."""

    async def relay(self, limit: int, publish: Publish, turn: Turn | None = None) -> int:
        """Claim up to `limit` unpublished events, oldest first, call `publish` with them and,
        once it has returned, mark them published; the number published. With `turn`, get
        ready to claim (a connection, a transaction begun), then await `turn()` and claim only
        if it returns True: the relay's next batch waits there for the one before it.

        Claimed rows are locked against every other relay (FOR UPDATE SKIP LOCKED; MongoDB and
        DynamoDB, without row locks, lease them: lease.py): replicas share the backlog and never
        publish the same row at the same moment. When `publish` raises, nothing is marked and
        the events stay in the outbox for the next try.
        """

    async def backlog(self) -> tuple[int, float | None]:
        """(events waiting, seconds since the oldest of them was written, None when none)."""

    async def close(self) -> None: ...


class Publisher(Protocol):
    """A connection to one broker, publishing to EVENTS_QUEUE_NAME with the broker's confirms."""

    async def connect(self) -> None:
        """Connect; raise when the broker does not answer (the relay tries again later)."""

    async def publish(self, messages: Sequence[OutboxMessage]) -> None:
        """Publish `messages` in structured content mode and return once the broker has
        confirmed every one of them (stored); raise if any was not."""

    async def close(self) -> None:
        """Close the connection; never raises (it is also called on a broken one)."""
