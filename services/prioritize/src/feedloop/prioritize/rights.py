"""Data rights in prioritize: a customer's feedback rows anonymised, the aggregates kept.

Erasure keeps every row that a KPI, an issue count or a priority reads (scores, sentiment,
themes, channel, segment, tier, value, dates, issue membership) and removes what identifies
or quotes the customer: the text, the theme evidence sentences, the embedding (derived from
the text), the source system's item id and the e-mail in the stored reference. The customer
id becomes one random pseudonym, the same on all their rows and issue links, so distinct
customer counts stay right and nothing leads back to the person. An issue titled after one of
their complaints is retitled (an `issue.updated` event tells notify). Their unanswered inbox
items are deleted.
"""

import logging
import uuid
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from feedloop.common.consumer import BatchConsumer
from feedloop.common.events import utcnow
from feedloop.common.rights import app_rights_consumer
from feedloop.prioritize.consumer import SERVICE
from feedloop.prioritize.feedback import notes
from feedloop.prioritize.issues.store import lock_issue, save_issue
from feedloop.prioritize.models import customer_t, feedback_t, inbox_t, issue_t
from feedloop.prioritize.settings import PrioritizeSettings
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger(__name__)
ERASED_TEXT = ""


def pseudonym() -> str:
    """Returns a fresh random customer id for an erased customer's rows (never derived)."""
    return f"erased-{uuid.uuid4().hex}"


def anonymised_ref(ref: dict[str, Any], alias: str) -> dict[str, Any]:
    """Returns a stored FeedbackRef without contact data or the source item's id (pure)."""
    customer = {k: v for k, v in (ref.get("customer") or {}).items() if k not in ("id", "email")}
    return ref | {"customer": customer | {"id": alias}, "external_id": alias}


def anonymised_enrichment(enrichment: dict[str, Any]) -> dict[str, Any]:
    """Returns a stored enrichment without the quoted evidence sentences (pure)."""
    themes = [t | {"evidence": None} for t in enrichment.get("themes") or []]
    return enrichment | {"themes": themes}


def title_quotes(title: str, theme: str, text: str) -> bool:
    """True when an issue's title was made from this text (assign._title's snippet)."""
    snippet = " ".join(text.split())[:120]
    return bool(snippet) and title.startswith(f"{theme}: {snippet[:40]}")


async def erase_customer(
    *, conn: AsyncConnection, customer_id: str, settings: PrioritizeSettings
) -> dict[str, int]:
    """Anonymises a customer's feedback and issue links; returns what changed, by kind."""
    rows = (
        await conn.execute(
            select(
                feedback_t.c.id,
                feedback_t.c.text,
                feedback_t.c.ref,
                feedback_t.c.enrichment,
                feedback_t.c.issue_id,
            ).where(feedback_t.c.customer_id == customer_id)
        )
    ).all()
    alias = pseudonym()
    retitled = await _retitle_issues(conn, rows, settings=settings)
    for row in rows:
        await conn.execute(
            update(feedback_t)
            .where(feedback_t.c.id == row.id)
            .values(
                customer_id=alias,
                text=ERASED_TEXT,
                ref=anonymised_ref(row.ref, alias),
                enrichment=anonymised_enrichment(row.enrichment),
                embedding=None,
            )
        )
    links = await conn.execute(
        update(customer_t)
        .where(customer_t.c.customer_id == customer_id)
        .values(customer_id=alias, last_embedding=None)
    )
    inbox = await conn.execute(delete(inbox_t).where(inbox_t.c.customer_id == customer_id))
    noted = await notes.erase(conn, [row.id for row in rows])
    return {
        "feedback_rows": len(rows),
        "issue_links": links.rowcount or 0,
        "issues_retitled": retitled,
        "inbox_items": inbox.rowcount or 0,
        "feedback_notes": noted,
    }


async def _retitle_issues(
    conn: AsyncConnection, rows: Sequence[Any], *, settings: PrioritizeSettings
) -> int:
    issue_ids = sorted({r.issue_id for r in rows if r.issue_id})
    if not issue_ids:
        return 0
    issues = (
        await conn.execute(
            select(issue_t.c.id, issue_t.c.title, issue_t.c.theme).where(
                issue_t.c.id.in_(issue_ids)
            )
        )
    ).all()
    retitled = 0
    for issue in issues:
        if not any(title_quotes(issue.title, issue.theme, r.text) for r in rows):
            continue
        locked = await lock_issue(conn=conn, issue_id=issue.id)
        locked["title"] = f"{issue.theme} complaints"
        await save_issue(
            conn=conn,
            issue=locked,
            changes=["title"],
            prefix=settings.kafka_topic_prefix,
            now=utcnow(),
        )
        retitled += 1
    return retitled


def consumer(app: FastAPI, engine: AsyncEngine, settings: PrioritizeSettings) -> BatchConsumer:
    """Returns prioritize's loop on `customer-requests`: anonymise, then confirm."""

    async def erase(conn: AsyncConnection, customer_id: str) -> dict[str, int]:
        return await erase_customer(conn=conn, customer_id=customer_id, settings=settings)

    return app_rights_consumer(
        app, engine, settings=settings, service=SERVICE, erase_customer=erase
    )
