"""Re-analysing history: `feedloop-enrich reprocess --since T [--until T] [--dry-run]`.

After a new model or taxonomy, items already on `enriched` keep the old analysis. This command
reads `enriched` from a point in time (per partition, offsets_for_times; read_committed; up to
the end offsets at its start, so it never reads its own output), runs the current models over
the redacted text each event already carries (the raw text on `raw-feedback` may have expired;
nothing is redacted again, the PII counts are carried over), and produces a new version of each
item's `feedback.enriched`. Its event id comes from the feedback id and the new versions, so a
second run, or a copy of one, is dropped by prioritize as a repeat.

Items are skipped when the event read already has the current versions, or when an event of
that item with the current versions lies anywhere from `--since` to the end (a first pass
collects those ids): an interrupted run resumes where it stopped, and a second run analyses
nothing. The producer is idempotent (acks=all) and each batch is flushed before progress is
logged; prioritize applies a newer analysis in place of the stored one (see
feedloop.prioritize.issues.reenrich).
"""

import argparse
import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from feedloop.common import topics
from feedloop.common.codec import DeadLetterReason, OutgoingRecord, PoisonRecord, decode, encode
from feedloop.common.events import Enrichment, Envelope, FeedbackEnriched
from feedloop.common.kafka import Emitter, Record, client_options, create_producer
from feedloop.common.logs import configure_logging
from feedloop.common.metrics import serve_metrics
from feedloop.enrich.consumer import UNTHEMED_KEY
from feedloop.enrich.metrics import REPROCESSED
from feedloop.enrich.service import Enricher
from feedloop.enrich.settings import EnrichSettings

log = logging.getLogger(__name__)
SERVICE = "enrich"
TITLE_FIELDS = ("title", "subject")
"""Item fields enrich reads before the text, in this order (as it does on raw-feedback)."""
Ranges = dict[TopicPartition, tuple[int, int]]


@dataclass
class Progress:
    """What a run did so far; logged after each batch and returned at the end."""

    total: int = 0
    """Offsets in the range: the records and the markers of the transactions that wrote them."""
    read: int = 0
    reprocessed: int = 0
    current: int = 0
    already: int = 0
    unreadable: int = 0
    failed: int = 0
    dry_run: bool = False
    started: float = field(default_factory=time.monotonic)

    def count(self, outcome: str, n: int = 1) -> None:
        """Counts n records with an outcome, here and in the Prometheus counter."""
        if n:
            setattr(self, outcome, getattr(self, outcome) + n)
            dry = self.dry_run and outcome == "reprocessed"
            REPROCESSED.labels("would_reprocess" if dry else outcome).inc(n)

    def summary(self) -> dict[str, Any]:
        """The figures of the run, with its rate and the time left at that rate."""
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = self.read / elapsed
        figures = {k: v for k, v in asdict(self).items() if k != "started"}
        left = (self.total - self.read) / rate if rate else None
        return figures | {
            "elapsed_s": round(elapsed, 1),
            "records_per_s": round(rate, 1),
            "eta_s": None if left is None else round(left),
        }


def parse_time(text: str) -> datetime:
    """An ISO 8601 moment with its offset (Z accepted); naive times are refused."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no UTC offset (add Z or +00:00)")
    return moment


def _millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


async def plan(
    consumer: AIOKafkaConsumer, topic: str, *, since: datetime, until: datetime | None
) -> tuple[Ranges, Ranges]:
    """Offsets to scan for current versions (since..end) and to re-analyse (since..until)."""
    cluster = await consumer._client.fetch_all_metadata()
    tps = [TopicPartition(topic, p) for p in sorted(cluster.partitions_for_topic(topic) or ())]
    if not tps:
        raise SystemExit(f"topic {topic} does not exist")
    consumer.assign(tps)
    # read_committed: the end is the last stable offset, past every committed transaction.
    ends = await consumer.end_offsets(tps)
    starts = await consumer.offsets_for_times(dict.fromkeys(tps, _millis(since)))
    stops = await consumer.offsets_for_times(dict.fromkeys(tps, _millis(until))) if until else {}
    scan: Ranges = {}
    redo: Ranges = {}
    for tp in tps:
        found = starts.get(tp)
        start = ends[tp] if found is None else found.offset
        stop_at = stops.get(tp)
        stop = ends[tp] if stop_at is None else min(stop_at.offset, ends[tp])
        if start < ends[tp]:
            scan[tp] = (start, ends[tp])
        if start < stop:
            redo[tp] = (start, stop)
    return scan, redo


async def read(
    consumer: AIOKafkaConsumer, ranges: Ranges, *, batch: int
) -> AsyncIterator[list[Record]]:
    """Yields the records of the offset ranges in batches of at most `batch`."""
    remaining = dict(ranges)
    for tp, (start, _) in remaining.items():
        consumer.seek(tp, start)
    while remaining:
        fetched = await consumer.getmany(*remaining, timeout_ms=500, max_records=batch)
        records = [
            r
            for tp, rs in fetched.items()
            for r in rs
            if tp in remaining and r.offset < remaining[tp][1]
        ]
        if records:
            yield records
        for tp in list(remaining):
            # The position passes transaction markers too, which no record stands for.
            if await consumer.position(tp) >= remaining[tp][1]:
                del remaining[tp]


def _versions(raw: dict[str, Any]) -> tuple[str, str, str] | None:
    enrichment = (raw.get("payload") or {}).get("enrichment") or {}
    if not isinstance(enrichment, dict):
        return None
    return (
        enrichment.get("sentiment_model", ""),
        enrichment.get("embedding_model", ""),
        enrichment.get("taxonomy_version", ""),
    )


async def current_ids(
    consumer: AIOKafkaConsumer, ranges: Ranges, versions: tuple[str, str, str]
) -> set[str]:
    """Feedback ids that already have an event with the current versions in the ranges."""
    found: set[str] = set()
    async for records in read(consumer, ranges, batch=5000):
        for record in records:
            with contextlib.suppress(orjson.JSONDecodeError, AttributeError, TypeError):
                raw = orjson.loads(record.value or b"")
                if _versions(raw) == versions:
                    found.add(str(raw["payload"]["feedback_id"]))
    return found


def reanalysed(
    enricher: Enricher, envelope: Envelope[FeedbackEnriched], result: Enrichment, prefix: str
) -> OutgoingRecord:
    """The new version of an item's `enriched` record; PoisonRecord if it would be invalid."""
    old = envelope.payload
    event = FeedbackEnriched(
        feedback_id=old.feedback_id, received_at=old.received_at, item=old.item, enrichment=result
    )
    out = Envelope.wrap(
        event,
        event_id=enricher.enriched_event_id(old.feedback_id),
        producer=SERVICE,
        correlation_id=envelope.correlation_id,
    )
    record = encode(out, key=result.primary_theme or UNTHEMED_KEY, prefix=prefix)
    decode(record.value, accept=[FeedbackEnriched])  # as prioritize will read it
    return record


def analyse_each(enricher: Enricher, items: Sequence[FeedbackEnriched]) -> list[Enrichment | None]:
    """Analyses the items' redacted text together; one by one if that fails (None: failed)."""
    documents = []
    for event in items:
        item: Any = event.item
        title = next((getattr(item, n) for n in TITLE_FIELDS if getattr(item, n, None)), None)
        documents.append(enricher.document(item.text, title=title, pii=event.enrichment.pii.counts))
    try:
        return list(enricher.analyse(documents, source="reprocess"))
    except Exception:
        log.exception("batch analysis failed; analysing its %d items one by one", len(documents))
    results: list[Enrichment | None] = []
    for document in documents:
        try:
            results.extend(enricher.analyse([document], source="reprocess"))
        except Exception:
            log.exception("analysis of one item failed; it keeps its old analysis")
            results.append(None)
    return results


async def reprocess(
    settings: EnrichSettings,
    enricher: Enricher,
    *,
    since: datetime,
    until: datetime | None = None,
    dry_run: bool = False,
    batch: int = 256,
) -> Progress:
    """Re-analyses the items of `enriched` from `since` (to `until`) with the current models."""
    topic = settings.topic(topics.ENRICHED)
    progress = Progress(dry_run=dry_run)
    consumer = AIOKafkaConsumer(
        **client_options(settings),
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    producer = None if dry_run else create_producer(settings)
    await consumer.start()
    try:
        if producer is not None:
            await producer.start()
        scan, redo = await plan(consumer, topic, since=since, until=until)
        progress.total = sum(stop - start for start, stop in redo.values())
        log.info(
            "reprocess: versions %s, %d records to read",
            enricher.versions,
            progress.total,
            extra={"topic": topic, "since": since.isoformat(), "dry_run": dry_run},
        )
        done = await current_ids(consumer, scan, enricher.versions)
        emitter = Emitter(producer, service=SERVICE) if producer is not None else None
        async for records in read(consumer, redo, batch=batch):
            await _batch(enricher, records, done, emitter, progress, settings.kafka_topic_prefix)
            log.info("reprocess progress", extra=progress.summary())
    finally:
        if producer is not None:
            await producer.stop()
        await consumer.stop()
    return progress


async def _batch(
    enricher: Enricher,
    records: Sequence[Record],
    done: set[str],
    emitter: Emitter | None,
    progress: Progress,
    prefix: str,
) -> None:
    """Re-analyses one batch of records and produces (unless a dry run) their new versions."""
    pending: list[Envelope[FeedbackEnriched]] = []
    for record in records:
        progress.read += 1
        try:
            envelope = decode(record.value, accept=[FeedbackEnriched])
        except PoisonRecord:
            progress.count("unreadable")  # prioritize dead-lettered it; nothing to redo
            continue
        event: FeedbackEnriched = envelope.payload
        e = event.enrichment
        if (e.sentiment_model, e.embedding_model, e.taxonomy_version) == enricher.versions:
            progress.count("current")
        elif event.feedback_id in done:
            progress.count("already")
        else:
            done.add(event.feedback_id)  # older copies of it further on are repeats
            pending.append(envelope)
    if emitter is None or not pending:
        progress.count("reprocessed", len(pending))  # a dry run counts what it would do
        return
    results = await asyncio.to_thread(analyse_each, enricher, [p.payload for p in pending])
    sent = 0
    for envelope, result in zip(pending, results, strict=True):
        try:
            if result is None:
                raise PoisonRecord(DeadLetterReason.PROCESSING_ERROR, "analysis failed")
            await emitter.send(reanalysed(enricher, envelope, result, prefix))
            sent += 1
        except PoisonRecord as exc:
            log.warning(
                "item not re-analysed; it keeps its old analysis: %s",
                exc.detail[:300],
                extra={"feedback_id": envelope.payload.feedback_id},
            )
            progress.count("failed")
    await emitter.flush()
    progress.count("reprocessed", sent)


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command with the settings from the environment; 0 when it finished."""
    parser = argparse.ArgumentParser(
        prog="feedloop-enrich reprocess",
        description="Re-analyse the items on `enriched` from a point in time with the current "
        "models and taxonomy, producing a new version of each.",
    )
    parser.add_argument("--since", type=parse_time, required=True, help="e.g. 2026-11-01T00:00:00Z")
    parser.add_argument("--until", type=parse_time, help="default: the end at the start")
    parser.add_argument(
        "--dry-run", action="store_true", help="only count what would be re-analysed"
    )
    parser.add_argument("--batch-size", type=int, default=256, help="records per batch")
    parser.add_argument("--metrics-port", type=int, help="serve /metrics here while running")
    args = parser.parse_args(argv)
    settings = EnrichSettings(consume=False)
    configure_logging(service="enrich-reprocess", level=settings.log_level, json=settings.log_json)
    stop_metrics = serve_metrics(settings.host, args.metrics_port) if args.metrics_port else None
    try:
        progress = asyncio.run(
            reprocess(
                settings,
                Enricher(settings),
                since=args.since,
                until=args.until,
                dry_run=args.dry_run,
                batch=max(1, args.batch_size),
            )
        )
    finally:
        if stop_metrics is not None:
            stop_metrics()
    print(orjson.dumps(progress.summary()).decode())
    return 0
