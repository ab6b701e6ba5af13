"""The example resource: create, get and list orders.

Reading needs a token with the scope `orders:read`, creating one with `orders:write`
(api/security.py); every route documents every status it can answer with (api/responses.py).
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query, Response, status

from ...models import Order, OrderCreate, OrderPage
from ..deps import Orders
from ..responses import API_RESPONSES, Problem
from ..security import OrdersReader, OrdersWriter

router = APIRouter(prefix="/api/v1/orders", tags=["orders"], responses=API_RESPONSES)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Order,
    responses={
        status.HTTP_201_CREATED: {
            "headers": {
                "Location": {"description": "URL of the new order", "schema": {"type": "string"}}
            }
        }
    },
)
async def create_order(
    body: OrderCreate, orders: Orders, response: Response, caller: OrdersWriter
) -> Order:
    """Create an order; its URL is in the Location header."""
    order = await orders.create(body)
    response.headers["Location"] = f"{router.prefix}/{order.id}"
    return order


@router.get(
    "/{order_id}",
    response_model=Order,
    responses={
        status.HTTP_404_NOT_FOUND: {"model": Problem, "description": "No order has this id."}
    },
)
async def get_order(order_id: UUID, orders: Orders, caller: OrdersReader) -> Order:
    order = await orders.get(order_id)
    if order is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"order {order_id} not found")
    return order


@router.get("", response_model=OrderPage)
async def list_orders(
    orders: Orders,
    caller: OrdersReader,
    limit: Annotated[int, Query(ge=1, le=100, description="Orders per page.")] = 20,
    # Bounded: a database refuses an offset beyond its integer range (a 5xx before the bound).
    offset: Annotated[
        int, Query(ge=0, le=1_000_000_000, description="Orders to skip (newest first).")
    ] = 0,
) -> OrderPage:
    items, total = await orders.page(limit=limit, offset=offset)
    return OrderPage(items=items, total=total, limit=limit, offset=offset)
