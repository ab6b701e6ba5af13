"""What the routes take from the app, read straight from its state.

Plain functions of the request rather than `Depends()`: FastAPI resolves each dependency on
every request (a few microseconds each, more than the read itself costs in Python), and the
routes need nothing from a dependency here that a function call does not give them.
"""

from __future__ import annotations

from fastapi import Request

from ..storage import OrderRepository


def orders_of(request: Request) -> OrderRepository:
    """The orders repository of the app serving `request` (tests may swap it on app.state)."""
    repository: OrderRepository = request.app.state.storage.orders
    return repository
