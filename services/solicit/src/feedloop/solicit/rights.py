"""Erasure through the data-rights flow: solicit reads `customer-requests` and confirms.

When notify takes an erasure request it publishes `customer.erasure_requested`; solicit reads
it in its own group, erases what it holds of the customer (feedloop.solicit.customers.erase:
touchpoints, invitations, skips, answers; the id kept only as a hash so they are never asked
again) and confirms with `customer.erased` from service "solicit". A repeat finds nothing left.
"""

from fastapi import FastAPI
from feedloop.common.consumer import BatchConsumer
from feedloop.common.events import utcnow
from feedloop.common.rights import app_rights_consumer
from feedloop.solicit.customers import erase
from feedloop.solicit.outbox import SERVICE
from feedloop.solicit.settings import SolicitSettings
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine


def consumer(app: FastAPI, engine: AsyncEngine, settings: SolicitSettings) -> BatchConsumer:
    """Returns solicit's loop on `customer-requests`: erase, then confirm."""

    async def erase_customer(conn: AsyncConnection, customer_id: str) -> dict[str, int]:
        invitations = await erase(conn=conn, customer_id=customer_id, now=utcnow())
        return {"invitations": invitations}

    return app_rights_consumer(
        app, engine, settings=settings, service=SERVICE, erase_customer=erase_customer
    )
