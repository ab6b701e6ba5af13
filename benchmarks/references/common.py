"""What the reference apps share: one uvicorn process as the generated service runs, and the
asyncpg pool of the orders references.

Each reference is a file of this folder with an ASGI `app`; run as a script it serves on
127.0.0.1:$PORT. Imported (benchmarks/bench_api_cpu.py), it only builds the app.
"""

from __future__ import annotations

import json
import os
from typing import Any

# The generated service's server settings (its server.py), minus what only it has.
UVICORN = {"loop": "uvloop", "http": "httptools", "access_log": False, "log_level": "warning"}

# The row the generated service reads, by the same primary key.
SELECT = "SELECT id, customer_id, items, total, status, created_at FROM orders WHERE id = $1"


def serve(app: Any) -> None:
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["PORT"]), **UVICORN)  # type: ignore[arg-type]


async def _init(connection: Any) -> None:
    # jsonb decoded to Python as the generated service does (SQLAlchemy's asyncpg codec).
    await connection.set_type_codec(
        "jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
    )


async def open_pool() -> Any:
    """A plain asyncpg pool of 20, the generated service's pool size; no TLS on loopback."""
    import asyncpg

    return await asyncpg.create_pool(
        os.environ["DATABASE_URL"], min_size=20, max_size=20, init=_init, ssl=False
    )
