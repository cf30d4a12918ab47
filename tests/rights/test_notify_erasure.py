"""notify's own erasure on a real store: contact data, errors quoting it, unsent dead letters."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from feedloop.common.codec import DeadLetterReason
from feedloop.common.db import create_engine
from feedloop.common.dlq import NOTIFICATION_FAILED, failure_record
from feedloop.common.outbox import record_row
from feedloop.notify.migrate import upgrade
from feedloop.notify.models import cap_t, customer_t, delivery_t, outbox_t, preference_t
from feedloop.notify.rights import erase_customer
from feedloop.notify.settings import NotifySettings
from sqlalchemy import insert, select, text

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
ADDRESS = "ann.lee@example.org"


def delivery(
    delivery_id: str, customer_id: str, status: str, error: str | None, round_: int = 1
) -> dict[str, Any]:
    return {
        "id": delivery_id,
        "customer_id": customer_id,
        "issue_id": "i-1",
        "kind": "resolution",
        "round": round_,
        "channel": "email",
        "source_system": "shop",
        "status": status,
        "attempts": 3,
        "next_attempt_at": NOW,
        "last_error": error,
        "resends": 0,
        "created_at": NOW,
        "updated_at": NOW,
    }


def dead_letter(customer_id: str, address: str, settings: NotifySettings) -> dict[str, Any]:
    body = {
        "delivery_id": f"d-{customer_id}",
        "customer_id": customer_id,
        "error": f"550 {address}",
    }
    record = failure_record(
        NOTIFICATION_FAILED,
        body,
        event_id=f"e-{customer_id}",
        topic=settings.topic("notifications.dlq"),
        key="i-1",
        source="notify",
        reason=DeadLetterReason.DELIVERY_FAILED,
        error=f"550 {address} refused",
        group_id="feedloop-notify",
        failed_at=NOW,
    )
    return record_row(record, event_id=f"e-{customer_id}", now=NOW)


async def test_erasure_scrubs_contacts_errors_and_unsent_dead_letters_of_that_customer_only(
    tmp_path: Path,
) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'notify.db'}")
    await upgrade(engine)
    settings = NotifySettings(environment="test", database_url="sqlite://")
    async with engine.begin() as conn:
        await conn.execute(
            insert(customer_t),
            [
                {"id": "c1", "email": ADDRESS, "email_source": "shop", "updated_at": NOW},
                {"id": "c2", "email": "bob@example.org", "email_source": "shop", "updated_at": NOW},
            ],
        )
        await conn.execute(
            insert(preference_t),
            [{"customer_id": "c1", "channel": "email", "opted_out": False, "updated_at": NOW}],
        )
        await conn.execute(insert(cap_t), [{"customer_id": "c1", "day": "2026-12-07", "sent": 1}])
        await conn.execute(
            insert(delivery_t),
            [
                delivery("d-1", "c1", "done", f"550 5.1.1 <{ADDRESS}>: mailbox unavailable"),
                delivery("d-2", "c1", "pending", None, round_=2),
                delivery("d-3", "c2", "done", "550 bob@example.org unknown"),
            ],
        )
        await conn.execute(
            insert(outbox_t),
            [dead_letter("c1", ADDRESS, settings), dead_letter("c2", "bob@example.org", settings)],
        )

    async with engine.begin() as conn:
        counts = await erase_customer(conn=conn, customer_id="c1", settings=settings)
    async with engine.begin() as conn:
        again = await erase_customer(conn=conn, customer_id="c1", settings=settings)

    assert counts == {
        "contacts": 1,
        "cancelled_deliveries": 1,
        "scrubbed_errors": 1,
        "dead_letters": 1,
    }
    assert again["contacts"] == 0 and again["dead_letters"] == 0
    async with engine.connect() as conn:
        tables = (
            (await conn.execute(text("SELECT name FROM sqlite_master WHERE type='table'")))
            .scalars()
            .all()
        )
        dump = ""
        for table in tables:
            for row in await conn.execute(text(f'SELECT * FROM "{table}"')):
                dump += " ".join(
                    v.decode(errors="replace") if isinstance(v, bytes) else str(v) for v in row
                )
        left = (await conn.execute(select(outbox_t.c.value))).scalars().all()
        c2_error = await conn.scalar(
            select(delivery_t.c.last_error).where(delivery_t.c.id == "d-3")
        )
    assert ADDRESS not in dump
    # The other customer's data is untouched.
    assert [orjson.loads(v)["customer_id"] for v in left] == ["c2"]
    assert c2_error == "550 bob@example.org unknown"
    await engine.dispose()
