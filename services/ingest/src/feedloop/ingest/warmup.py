"""Re-reads recent raw-feedback at start so retries after a restart are still recognised."""

import asyncio
import contextlib
import logging
import time

from aiokafka import AIOKafkaConsumer, TopicPartition
from feedloop.common import topics
from feedloop.common.codec import header
from feedloop.common.kafka import client_options
from feedloop.ingest.idempotency import IdempotencyStore
from feedloop.ingest.settings import IngestSettings

log = logging.getLogger(__name__)

WARMUP_LIMIT_S = 120.0


async def warm_store(settings: IngestSettings, store: IdempotencyStore) -> int:
    """Loads the event ids of the last hours of raw-feedback (headers only); returns how many."""
    if settings.idempotency_warmup_hours <= 0:
        return 0
    consumer = AIOKafkaConsumer(**client_options(settings), enable_auto_commit=False, group_id=None)
    loaded = 0
    raw_topic = settings.topic(topics.RAW_FEEDBACK)
    try:
        await asyncio.wait_for(consumer.start(), 10)
        cluster = await consumer._client.fetch_all_metadata()
        partitions = cluster.partitions_for_topic(raw_topic) or set()
        tps = [TopicPartition(raw_topic, p) for p in partitions]
        if not tps:
            return 0
        consumer.assign(tps)
        since_ms = int((time.time() - settings.idempotency_warmup_hours * 3600) * 1000)
        starts = await consumer.offsets_for_times(dict.fromkeys(tps, since_ms))
        ends = await consumer.end_offsets(tps)
        remaining = {}
        for tp in tps:
            start = starts.get(tp)
            if start is None or start.offset >= ends[tp]:
                continue
            consumer.seek(tp, start.offset)
            remaining[tp] = ends[tp]
        deadline = time.monotonic() + WARMUP_LIMIT_S
        while remaining and time.monotonic() < deadline:
            batches = await consumer.getmany(*remaining, timeout_ms=500, max_records=5000)
            for records in batches.values():
                for record in records:
                    event_id = header(record.headers, topics.HEADER_ID)
                    if event_id:
                        store.remember(event_id)
                        loaded += 1
            for tp in list(remaining):
                if await consumer.position(tp) >= remaining[tp]:
                    del remaining[tp]
        log.info("idempotency store warmed", extra={"ids": loaded})
        return loaded
    except Exception:
        log.exception("idempotency warm-up failed; consumers still drop repeats by event id")
        return loaded
    finally:
        with contextlib.suppress(Exception):
            await consumer.stop()
