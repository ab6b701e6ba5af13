"""What the routes take from the app, read straight from its state.

The generated routes call plain functions of the request rather than declaring `Depends()`:
FastAPI resolves each dependency on every request, a few microseconds each, and a function call
gives them the same. `Orders` remains for routes that prefer a dependency.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ..storage import OrderRepository


def orders_of(request: Request) -> OrderRepository:
    """The orders repository of the app serving `request` (tests may swap it on app.state)."""
    repository: OrderRepository = request.app.state.storage.orders
    return repository


# async: FastAPI runs a plain `def` dependency in a worker thread, a thread hop per request.
async def get_orders(request: Request) -> OrderRepository:
    return orders_of(request)


# For routes that prefer a dependency (the generated ones call `orders_of` instead).
Orders = Annotated[OrderRepository, Depends(get_orders)]
