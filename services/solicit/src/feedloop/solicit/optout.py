"""Opting a customer out through an invitation's unsubscribe token: the one-click link
(feedloop.solicit.pages) and a reply to the mailto (feedloop.solicit.inbound) do exactly this."""

from datetime import datetime

from feedloop.common.errors import NotFound
from feedloop.solicit import answers, customers
from sqlalchemy.ext.asyncio import AsyncEngine


async def opt_out_invitation(engine: AsyncEngine, invitation_id: str, now: datetime) -> str | None:
    """Opts the invitation's customer out of surveys and withdraws what is scheduled for them.

    Returns the invitation's language, or None when it is gone (erased: nothing is sent anyway).
    """
    async with engine.begin() as conn:
        try:
            invitation = await answers.invitation_or_404(conn, invitation_id)
        except NotFound:
            return None
        customer_id: str = invitation.customer_id
        await customers.opt_out(conn=conn, customer_id=customer_id, now=now)
        await customers.withdraw_pending(conn=conn, customer_id=customer_id, now=now)
    language: str = invitation.language
    return language
