"""Tables of the KPI alerts: who gets which alert, and each alert's delivery to each of them."""

from datetime import datetime
from typing import Any

from feedloop.common.db import table_of
from feedloop.notify.models import Base
from sqlalchemy import JSON, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column


class AlertSubscription(Base):
    """A staff member's (or a team channel's) subscription to spike alerts and/or digests."""

    __tablename__ = "alert_subscription"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(10), doc="email or webhook")
    target: Mapped[str] = mapped_column(String(2000), doc="The address, or the webhook URL.")
    kinds: Mapped[list[str]] = mapped_column(JSON, doc="spike, digest")
    themes: Mapped[list[str] | None] = mapped_column(JSON, doc="Spikes of these themes only.")
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


class AlertDelivery(Base):
    """One alert to one subscription: sent once (unique per subscription and alert key)."""

    __tablename__ = "alert_delivery"
    __table_args__ = (
        UniqueConstraint("subscription_id", "alert_key", name="uq_alert_delivery_once"),
        Index("ix_alert_delivery_due", "status", "next_attempt_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    subscription_id: Mapped[str] = mapped_column(String(64))
    alert_key: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), doc="pending, delivered, capped, failed")
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]


subscription_t = table_of(AlertSubscription)
alert_delivery_t = table_of(AlertDelivery)
