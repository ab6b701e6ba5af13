"""Dependencies the routes declare, as `Annotated` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ..storage import OrderRepository


# async: FastAPI runs a plain `def` dependency in a worker thread, a thread hop per request.
async def get_orders(request: Request) -> OrderRepository:
    repository: OrderRepository = request.app.state.storage.orders
    return repository


Orders = Annotated[OrderRepository, Depends(get_orders)]
