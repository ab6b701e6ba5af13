"""The opaque `cursor` of GET /api/v1/orders: a page's end position, encoded for a URL.

Clients pass back the `next_cursor` they were given and never build one: its content (today the
keyset `(created_at, id)` as base64url JSON) may change without changing the API. A value this API
did not issue is refused with InvalidCursor, which the route turns into a 400.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from uuid import UUID

from ..storage.base import Position

# Far above what encode() makes (about 100 characters): longer is not ours, and costs no decoding.
MAX_LENGTH = 200


class InvalidCursor(ValueError):
    """The cursor was not issued by this API (or was altered)."""


def encode(position: Position) -> str:
    payload = json.dumps([position.created_at.isoformat(), str(position.id)], separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode(cursor: str) -> Position:
    reason = "cursor is not one this API issued: pass back a next_cursor unchanged, or omit it"
    if len(cursor) > MAX_LENGTH:
        raise InvalidCursor(reason)
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, order_id = json.loads(raw)
        position = Position(datetime.fromisoformat(created_at), UUID(order_id))
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError):
        raise InvalidCursor(reason) from None
    if position.created_at.tzinfo is None:
        raise InvalidCursor(reason)
    return position
