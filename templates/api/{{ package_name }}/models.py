"""The orders resource as the API shows it: validated request bodies and response shapes."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

Sku = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]


class OrderItem(BaseModel):
    """One line of an order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sku: Sku
    quantity: int = Field(ge=1, le=1000)
    unit_price: Decimal = Field(ge=0, le=Decimal("1000000"), max_digits=9, decimal_places=2)


class OrderCreate(BaseModel):
    """Body of POST /api/v1/orders. Unknown fields are refused rather than silently dropped."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    customer_id: str = Field(min_length=1, max_length=64)
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
