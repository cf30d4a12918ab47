"""Intake's view of the store for one batch: rows read once, changes kept and written set-based.

A batch of `prioritized` events used to cost about nine statements per event. Here the issues,
links and customers a batch touches are read in a few queries up front, changed in memory in
event order, and written back with one statement per table and kind of change (`flush`) before
anything that reads them from the database (`owe`) runs, and at the end of the batch.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from feedloop.common.db import insert_ignoring_conflicts
from feedloop.notify.delivery.outcomes import CLOSING_KINDS
from feedloop.notify.models import customer_t, issue_t, link_t, notification_t, processed_t
from feedloop.notify.rows import CustomerRow
from sqlalchemy import Update, bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

ISSUE_COLUMNS = (
    "version",
    "status",
    "severity",
    "title",
    "resolution_message",
    "resolutions",
    "merged_into",
    "updated_at",
    "kind",
)


def owned_email_update(updated_at: Any) -> Update:
    """Sets customers' e-mail addresses under the ownership rule (executemany rows b_id,
    b_source, b_email): only the owning system, or the first to give one, sets an address;
    never for an erased customer."""
    return (
        update(customer_t)
        .where(
            customer_t.c.id == bindparam("b_id"),
            customer_t.c.erased_at.is_(None),
            or_(
                customer_t.c.email_source.is_(None),
                customer_t.c.email_source == bindparam("b_source"),
            ),
        )
        .values(
            email=bindparam("b_email"), email_source=bindparam("b_source"), updated_at=updated_at
        )
    )


@dataclass(slots=True)
class IssueRow:
    """An issue's state as this batch knows it (the newest, written back at flush)."""

    id: str
    version: int
    status: str
    severity: str
    title: str | None
    resolution_message: str | None
    resolutions: int
    merged_into: str | None
    updated_at: datetime
    kind: str | None = None


@dataclass(slots=True)
class LinkRow:
    """A feedback item's link as this batch knows it (the columns `owe` and intake read)."""

    feedback_id: str
    issue_id: str
    customer_id: str
    source_system: str
    external_id: str
    channel: str
    correlation_id: str
    received_at: datetime
    linked_at: datetime
    kind: str | None = None

    @classmethod
    def of(cls, row: Any) -> "LinkRow":
        """Returns the batch's copy of a row selected from `feedback_link`."""
        return cls(**{f: getattr(row, f) for f in cls.__dataclass_fields__})


@dataclass(slots=True)
class Staging:
    """Rows of one batch, and the changes not yet written."""

    seen: set[str]
    issues: dict[str, IssueRow]
    links: dict[str, LinkRow]
    resolved: set[str] = field(default_factory=set)  # feedback owed a closing message already
    quiet: set[str] = field(default_factory=set)  # feedback whose note waits (intake.quiet)
    _stored_issues: set[str] = field(default_factory=set)
    _processed: list[dict[str, Any]] = field(default_factory=list)
    _customers: dict[str, CustomerRow] = field(default_factory=dict)
    _contact_changes: dict[str, dict[str, str]] = field(default_factory=dict)
    _email_changes: dict[tuple[str, str], str] = field(default_factory=dict)
    _new_links: dict[str, None] = field(default_factory=dict)
    _moved_links: dict[str, None] = field(default_factory=dict)
    _dirty_issues: set[str] = field(default_factory=set)

    @classmethod
    async def load(
        cls,
        conn: AsyncConnection,
        *,
        event_ids: list[str],
        issue_ids: list[str],
        feedback_ids: list[str],
    ) -> "Staging":
        """Reads what the batch's events refer to: four queries, whatever the batch size."""
        seen = set(
            await conn.scalars(
                select(processed_t.c.event_id).where(processed_t.c.event_id.in_(event_ids))
            )
        )
        issues = {
            row.id: IssueRow(id=row.id, **{c: getattr(row, c) for c in ISSUE_COLUMNS})
            for row in await conn.execute(select(issue_t).where(issue_t.c.id.in_(issue_ids)))
        }
        links = {
            row.feedback_id: LinkRow.of(row)
            for row in await conn.execute(
                select(link_t).where(link_t.c.feedback_id.in_(feedback_ids))
            )
        }
        resolved: set[str] = set()
        quiet: set[str] = set()
        for row in await conn.execute(
            select(
                notification_t.c.feedback_id, notification_t.c.kind, notification_t.c.outcome
            ).where(
                notification_t.c.feedback_id.in_(feedback_ids),
                notification_t.c.kind.in_(CLOSING_KINDS),
            )
        ):
            # A note still waiting out its quiet period does not hold its item yet.
            waiting = row.kind == "note" and row.outcome is None
            (quiet if waiting else resolved).add(row.feedback_id)
        return cls(
            seen=seen,
            issues=issues,
            links=links,
            resolved=resolved - quiet,
            quiet=quiet - resolved,
            _stored_issues=set(issues),
        )

    def processed(self, event_id: str, now: datetime) -> None:
        """Marks an event as applied."""
        self.seen.add(event_id)
        self._processed.append({"event_id": event_id, "processed_at": now})

    def remember_customer(
        self,
        customer_id: str,
        email: str | None,
        locale: str | None,
        now: datetime,
        *,
        source_system: str,
    ) -> None:
        """Keeps the newest non-empty contact data (never written over an erased customer).

        The e-mail belongs to the source system that gave it first: another system's item
        cannot redirect the customer's resolution mail (flush() applies that rule).
        """
        self._customers.setdefault(
            customer_id,
            CustomerRow(
                id=customer_id,
                email=email,
                email_source=source_system if email is not None else None,
                locale=locale,
                erased_at=None,
                updated_at=now,
            ),
        )
        if locale is not None:
            self._contact_changes.setdefault(customer_id, {})["locale"] = locale
        if email is not None:
            self._email_changes[(customer_id, source_system)] = email

    def add_link(self, link: LinkRow) -> None:
        """Links a feedback item seen for the first time."""
        self.links[link.feedback_id] = link
        self._new_links[link.feedback_id] = None

    def move_link(self, feedback_id: str, issue_id: str, now: datetime) -> None:
        """Makes a linked feedback item wait on another issue."""
        link = self.links[feedback_id]
        link.issue_id, link.linked_at = issue_id, now
        if feedback_id not in self._new_links:
            self._moved_links[feedback_id] = None

    def issue(self, issue_id: str, severity: str, now: datetime) -> IssueRow:
        """Returns the issue's state, a new one when the store has none."""
        state = self.issues.get(issue_id)
        if state is None:
            state = IssueRow(issue_id, 0, "new", severity, None, None, 0, None, now, None)
            self.issues[issue_id] = state
        self._dirty_issues.add(issue_id)
        return state

    async def flush(self, conn: AsyncConnection) -> None:
        """Writes the changes kept so far: a handful of statements however many events."""
        if self._processed:
            await conn.execute(processed_t.insert(), self._processed)
        await insert_ignoring_conflicts(
            conn, customer_t, [c.values() for c in self._customers.values()]
        )
        by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for customer_id, changes in self._contact_changes.items():
            row = {"b_id": customer_id, "b_updated_at": self._customers[customer_id].updated_at}
            row |= {f"b_{k}": v for k, v in changes.items()}
            by_columns.setdefault(tuple(sorted(changes)), []).append(row)
        for columns, rows in by_columns.items():
            await conn.execute(
                update(customer_t)
                .where(customer_t.c.id == bindparam("b_id"), customer_t.c.erased_at.is_(None))
                .values(
                    updated_at=bindparam("b_updated_at"),
                    **{c: bindparam(f"b_{c}") for c in columns},
                ),
                rows,
            )
        await self._flush_emails(conn)
        if self._new_links:
            await conn.execute(
                link_t.insert(),
                [
                    {f: getattr(self.links[i], f) for f in LinkRow.__dataclass_fields__}
                    | {"closed_at": None, "close_outcome": None}
                    for i in self._new_links
                ],
            )
        if self._moved_links:
            await conn.execute(
                update(link_t)
                .where(link_t.c.feedback_id == bindparam("b_id"))
                .values(
                    issue_id=bindparam("b_issue_id"),
                    linked_at=bindparam("b_linked_at"),
                    kind=bindparam("b_kind"),
                ),
                [
                    {
                        "b_id": i,
                        "b_issue_id": self.links[i].issue_id,
                        "b_linked_at": self.links[i].linked_at,
                        "b_kind": self.links[i].kind,
                    }
                    for i in self._moved_links
                ],
            )
        await self._flush_issues(conn)
        self._processed, self._customers, self._contact_changes = [], {}, {}
        self._email_changes = {}
        self._new_links, self._moved_links = {}, {}

    async def _flush_emails(self, conn: AsyncConnection) -> None:
        # Only the owning system (or the first to give one) sets the address. executemany
        # runs the rows in arrival order, so within a batch too the first system owns it.
        rows = [
            {
                "b_id": customer_id,
                "b_source": source,
                "b_email": email,
                "b_updated_at": self._customers[customer_id].updated_at,
            }
            for (customer_id, source), email in self._email_changes.items()
        ]
        if rows:
            await conn.execute(owned_email_update(bindparam("b_updated_at")), rows)

    async def _flush_issues(self, conn: AsyncConnection) -> None:
        dirty = [self.issues[i] for i in self._dirty_issues]
        new = [s for s in dirty if s.id not in self._stored_issues]
        await insert_ignoring_conflicts(
            conn, issue_t, [{"id": s.id} | {c: getattr(s, c) for c in ISSUE_COLUMNS} for s in new]
        )
        stored = [s for s in dirty if s.id in self._stored_issues]
        if stored:
            await conn.execute(
                update(issue_t)
                .where(issue_t.c.id == bindparam("b_id"))
                .values(**{c: bindparam(f"b_{c}") for c in ISSUE_COLUMNS}),
                [{"b_id": s.id} | {f"b_{c}": getattr(s, c) for c in ISSUE_COLUMNS} for s in stored],
            )
        self._stored_issues.update(s.id for s in new)
        self._dirty_issues = set()
