"""The notify API: notification routes, then customer routes (one router for the app)."""

from fastapi import APIRouter
from feedloop.notify.customers.api import router as customers_router
from feedloop.notify.delivery.api import router as delivery_router
from feedloop.notify.followup.api import router as followup_router
from feedloop.notify.unsubscribe import router as unsubscribe_router

router = APIRouter()
router.include_router(delivery_router)
router.include_router(customers_router)
router.include_router(unsubscribe_router)
router.include_router(followup_router)
