"""full-stack-fastapi-template's backend (`app.main:app`, from its own venv and source tree),
served as the other apps are: one uvicorn process, uvloop, httptools, no access log.

As shipped, FastAPI runs its sync routes and dependencies on AnyIO's default thread limiter
(40 threads) over a SQLAlchemy pool of 5 + 10 connections. THREAD_LIMIT, when set, raises the
limiter's size before the server starts, so that a request holding a connection always finds
a thread to finish on.
"""

import os

import anyio.to_thread
import uvicorn
import uvloop
from app.main import app

UVICORN = {"http": "httptools", "access_log": False, "log_level": "warning"}


async def main() -> None:
    limit = os.environ.get("THREAD_LIMIT")
    if limit:
        anyio.to_thread.current_default_thread_limiter().total_tokens = int(limit)
    config = uvicorn.Config(app, host="127.0.0.1", port=int(os.environ["PORT"]), **UVICORN)  # type: ignore[arg-type]
    await uvicorn.Server(config).serve()


if __name__ == "__main__":
    uvloop.run(main())
