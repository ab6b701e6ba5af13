"""The orders ceiling: a bare ASGI app over the same asyncpg pool, the row as JSON by hand."""

import json
import uuid
from typing import Any

from common import SELECT, open_pool

PREFIX = "/api/v1/orders/"
HEADERS = [(b"content-type", b"application/json")]
pool: Any = None


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    global pool
    if scope["type"] == "lifespan":
        await receive()
        pool = await open_pool()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await pool.close()
        await send({"type": "lifespan.shutdown.complete"})
        return
    path = scope["path"]
    row = None
    if path.startswith(PREFIX):
        row = await pool.fetchrow(SELECT, uuid.UUID(path[len(PREFIX) :]))
    if path == "/healthz":
        body, status = b'{"status": "ok"}', 200
    elif row is None:
        body, status = b'{"detail": "not found"}', 404
    else:
        record = dict(row)
        record["created_at"] = record["created_at"].isoformat()
        body, status = json.dumps(record, default=str).encode(), 200
    await send({"type": "http.response.start", "status": status, "headers": HEADERS})
    await send({"type": "http.response.body", "body": body})


if __name__ == "__main__":
    from common import serve

    serve(app)
