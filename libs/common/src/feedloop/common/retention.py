"""Retention: a service's periodic pruning job, and the metric of what it removed.

Each service states what it prunes (its `prune` function returns counts by table) and how
often; the job runs for the app's life, logs and counts every pass, and a failed pass is
retried at the next one.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable

from feedloop.common.shell import Step, task_step
from prometheus_client import Counter

log = logging.getLogger(__name__)

RETENTION_PRUNED = Counter(
    "feedloop_retention_pruned_total",
    "Rows removed (or stripped of personal data) by the retention job, by table.",
    ["service", "table"],
)

Prune = Callable[[], Awaitable[dict[str, int]]]


async def prune_once(service: str, prune: Prune) -> dict[str, int]:
    """Runs one pass and counts it; returns what it removed, by table."""
    removed = await prune()
    for table, n in removed.items():
        if n:
            RETENTION_PRUNED.labels(service, table).inc(n)
    if any(removed.values()):
        log.info("retention pruned", extra={"removed": removed})
    return removed


def retention_step(service: str, prune: Prune, *, every_s: float) -> Step:
    """Lifespan step: runs `prune` every `every_s` seconds for the app's life."""

    async def run() -> None:
        while True:
            await asyncio.sleep(every_s)
            try:
                await prune_once(service, prune)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("retention pass failed; trying again next time")

    return task_step(f"{service}-retention", run)
