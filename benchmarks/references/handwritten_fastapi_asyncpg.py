"""The orders reference: what a developer writes by hand in FastAPI for GET /api/v1/orders/{id}
over a plain asyncpg pool of 20, returning the same row as the same pydantic model's JSON."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from common import SELECT, open_pool
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel


class Order(BaseModel):
    id: UUID
    customer_id: str
    items: list[dict[str, Any]]
    total: Decimal
    status: str
    created_at: datetime


pool: Any = None


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    global pool
    pool = await open_pool()
    yield
    await pool.close()


app = FastAPI(lifespan=lifespan)


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/api/v1/orders/{order_id}", response_model=Order)
async def get_order(order_id: UUID) -> Any:
    row = await pool.fetchrow(SELECT, order_id)
    if row is None:
        raise HTTPException(404, "not found")
    return dict(row)


if __name__ == "__main__":
    from common import serve

    serve(app)
