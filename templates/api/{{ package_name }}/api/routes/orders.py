"""The example resource: create, get and list orders.

Reading needs a token with the scope `orders:read`, creating one with `orders:write`
(api/security.py); every route documents every status it can answer with (api/responses.py).

The routes answer with their model's JSON themselves (api/responses.py `model_response`): what
they return was built by the storage from validated rows, and FastAPI would validate it once
more against `response_model` before serialising it. `response_model` stays: it is what the
OpenAPI document says each route answers.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query, Request, Response, status

from ...models import Order, OrderCreate, OrderPage
from .. import cursor as cursors
from ..deps import orders_of
from ..responses import API_RESPONSES, Problem, model_response
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
async def create_order(body: OrderCreate, request: Request, caller: OrdersWriter) -> Response:
    """Create an order; its URL is in the Location header."""
    order = await orders_of(request).create(body)
    location = {"Location": f"{router.prefix}/{order.id}"}
    return model_response(order, status.HTTP_201_CREATED, location)


@router.get(
    "/{order_id}",
    response_model=Order,
    responses={
        status.HTTP_404_NOT_FOUND: {"model": Problem, "description": "No order has this id."}
    },
)
async def get_order(order_id: UUID, request: Request, caller: OrdersReader) -> Response:
    order = await orders_of(request).get(order_id)
    if order is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"order {order_id} not found")
    return model_response(order)


@router.get(
    "",
    response_model=OrderPage,
    responses={status.HTTP_400_BAD_REQUEST: {"description": "The cursor was not one we issued."}},
)
async def list_orders(
    request: Request,
    caller: OrdersReader,
    limit: Annotated[int, Query(ge=1, le=100, description="Orders per page.")] = 20,
    cursor: Annotated[
        str | None, Query(description="The `next_cursor` of the previous page; omit for the first.")
    ] = None,
) -> Response:
    """Orders newest first, one page at a time: follow `next_cursor` until it is null."""
    try:
        after = cursors.decode(cursor) if cursor else None
    except cursors.InvalidCursor as error:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=str(error)) from None
    items, end = await orders_of(request).page(limit=limit, after=after)
    next_cursor = None if end is None else cursors.encode(end)
    return model_response(OrderPage(items=items, limit=limit, next_cursor=next_cursor))
