"""Every router of the service, in one place."""

from fastapi import APIRouter

from .routes import health, orders

api_router = APIRouter()
api_router.include_router(health.router)
api_router.include_router(orders.router)
