"""`feedloop lag` reads 0 once prioritize drained the transactional topics it reads.

Enrich writes `enriched` in transactions and notify's outbox may too: each commit marker takes
an offset after the transaction's last record. A group that commits last offset + 1 stays one
short of the end forever (lag 1 per partition, and KEDA never scales the stage to zero).
"""

import asyncio
import json
import uuid
from collections.abc import Sequence
from typing import Any

from asgi_lifespan import LifespanManager
from feedloop.cli.app import app as cli_app
from feedloop.common.codec import OutgoingRecord, encode
from feedloop.common.events import Envelope, deterministic_id
from feedloop.common.kafka import create_producer
from feedloop.common.settings import ServiceSettings
from feedloop.prioritize.app import create_app
from feedloop.prioritize.settings import PrioritizeSettings
from typer.testing import CliRunner

from tests.e2e.enriched import complaints
from tests.support.events import feedback_closed


def closures(count: int, *, prefix: str) -> list[OutgoingRecord]:
    """feedback.closed records as notify writes them (keyed by issue)."""
    out = []
    for n in range(count):
        payload = feedback_closed(
            f"f-{n}",
            issue_id=f"i-{n % 4}",
            customer_id=f"c-{n}",
            channel="none",
            outcome="no_channel",
        )
        envelope = Envelope.wrap(
            payload,
            event_id=deterministic_id("closed", str(n)),
            producer="notify",
            correlation_id="c",
        )
        out.append(encode(envelope, key=payload.issue_id, prefix=prefix))
    return out


async def produce_in_transactions(
    settings: ServiceSettings, records: Sequence[OutgoingRecord]
) -> None:
    """Writes records in transactions of five, as a transactional stage does."""
    producer = create_producer(settings, transactional_id=f"test-{uuid.uuid4().hex[:8]}")
    await producer.start()
    try:
        for start in range(0, len(records), 5):
            async with producer.transaction():
                for r in records[start : start + 5]:
                    await producer.send(r.topic, r.value, key=r.key, headers=r.headers)
    finally:
        await producer.stop()


async def lag_report(bootstrap: str, prefix: str, groups: dict[str, str]) -> dict[str, Any]:
    """`feedloop --json lag` with the test's groups, as an SRE would run it."""
    argv = ["--bootstrap", bootstrap, "--topic-prefix", prefix, "--json", "lag"]
    for stage, group in groups.items():
        argv += ["--group", f"{stage}={group}"]
    result = await asyncio.to_thread(
        lambda: CliRunner().invoke(cli_app, argv, catch_exceptions=False)
    )
    return {s["stage"]: s for s in json.loads(result.stdout)["stages"]}


async def test_lag_reads_zero_on_enriched_and_closed_after_prioritize_drained_them(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Any
) -> None:
    run = uuid.uuid4().hex[:8]
    groups = {"prioritize": f"test-prio-{run}", "prioritize-closed": f"test-closed-{run}"}
    settings = PrioritizeSettings(
        environment="test",
        log_json=False,
        kafka_bootstrap_servers=kafka_bootstrap,
        kafka_topic_prefix=topic_prefix,
        database_url=f"sqlite+aiosqlite:///{tmp_path}/prioritize.db",
        consumer_group=groups["prioritize"],
        closed_consumer_group=groups["prioritize-closed"],
        batch_timeout_ms=50,
        session_timeout_ms=6000,
    )
    await produce_in_transactions(settings, complaints(30, run=run, prefix=topic_prefix))
    await produce_in_transactions(settings, closures(20, prefix=topic_prefix))
    async with LifespanManager(create_app(settings), startup_timeout=60, shutdown_timeout=60):
        for _ in range(150):
            report = await lag_report(kafka_bootstrap, topic_prefix, groups)
            if report["prioritize"]["lag"] == 0 and report["prioritize-closed"]["lag"] == 0:
                break
            await asyncio.sleep(0.2)
    for stage in ("prioritize", "prioritize-closed"):
        partitions = report[stage]["partitions"]
        assert report[stage]["lag"] == 0, report[stage]
        assert all(p["committed"] == p["end"] for p in partitions if p["end"]), partitions
