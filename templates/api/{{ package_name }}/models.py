"""The orders resource as the API shows it: validated request bodies and response shapes."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

Sku = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]

# A price: a decimal string from 0 to 1000000 with at most 2 decimals ("12.50"). Money never
# travels as a JSON number (a binary float). The OpenAPI schema carries this exact pattern, and
# the model accepts exactly what it matches: what the document allows, the API accepts.
PRICE_PATTERN = r"^(0|[1-9][0-9]{0,5})(\.[0-9]{1,2})?$|^1000000(\.0{1,2})?$"
_PRICE = re.compile(PRICE_PATTERN)


def _price(value: object) -> Decimal:
    if isinstance(value, Decimal):  # built in Python (not from a request)
        value = str(value)
    if isinstance(value, str) and _PRICE.fullmatch(value):
        return Decimal(value)
    raise ValueError(
        'a price is a string from "0" to "1000000" with at most 2 decimals, e.g. "12.50"'
    )


Price = Annotated[
    Decimal,
    BeforeValidator(_price),
    WithJsonSchema({"type": "string", "pattern": PRICE_PATTERN, "examples": ["12.50"]}),
]


class OrderItem(BaseModel):
    """One line of an order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sku: Sku
    quantity: int = Field(ge=1, le=1000)
    unit_price: Price


class OrderCreate(BaseModel):
    """Body of POST /api/v1/orders. Unknown fields are refused rather than silently dropped."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # No NUL: no database stores it in text (PostgreSQL refuses it); the document says so too.
    customer_id: str = Field(min_length=1, max_length=64, pattern=r"^[^\x00]*$")
    items: list[OrderItem] = Field(min_length=1, max_length=100)

    @property
    def total(self) -> Decimal:
        return sum((item.unit_price * item.quantity for item in self.items), Decimal("0"))


class Order(BaseModel):
    """An order as stored: the request's fields plus what the service assigned."""

    model_config = ConfigDict(frozen=True)

    id: UUID
    customer_id: str
    items: list[OrderItem]
    total: Decimal
    status: str
    created_at: datetime


class OrderPage(BaseModel):
    """One page of orders, newest first, and the cursor of the next page."""

    items: list[Order]
    limit: int
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page."
    )
