"""Benchmark of the enrich stage: items/s from `raw-feedback` to `enriched` on the real broker,
beside the bare model forward passes (the ceiling) and a naive one-message-at-a-time loop.

    python -m benchmarks.bench_enrich [--items 3000] [--naive-items 300] [--threads 2]

Kafka: FEEDLOOP_BENCH_KAFKA (default 127.0.0.1:9092, `make kafka-up`). The stage runs as its
own process (`feedloop-enrich`, as deployed) so that its peak RSS is its own; the ceiling and the
naive loop run in this process with the same threads and batch sizes.
"""

import argparse
import asyncio
import os
import random
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psutil  # noqa: E402
import yaml  # noqa: E402
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition  # noqa: E402
from feedloop.common import topics  # noqa: E402
from feedloop.common.codec import OutgoingRecord, decode, encode  # noqa: E402
from feedloop.common.events import (  # noqa: E402
    Envelope,
    FeedbackEnriched,
    FeedbackReceived,
    deterministic_id,
    utcnow,
)
from feedloop.common.kafka import ensure_topics  # noqa: E402
from feedloop.common.settings import ServiceSettings  # noqa: E402
from feedloop.enrich.service import Enricher  # noqa: E402
from feedloop.enrich.settings import EnrichSettings  # noqa: E402

from benchmarks.common import free_port, print_table, service  # noqa: E402

QUALITY_SET = ROOT / "services" / "enrich" / "quality" / "feedback_labelled.yaml"
PII = [" Call me on +44 20 7946 0958.", " My e-mail is jo.bloggs@example.org.", ""]


def texts(n: int, seed: int = 7) -> list[str]:
    """Realistic feedback: one to three labelled texts joined, some with contact details."""
    pool = [i["text"] for i in yaml.safe_load(QUALITY_SET.read_text())["items"]]
    rng = random.Random(seed)
    return [
        " ".join(rng.sample(pool, rng.choice((1, 1, 2, 3)))) + rng.choice(PII) for _ in range(n)
    ]


def records(bodies: list[str], prefix: str, tag: str) -> list[OutgoingRecord]:
    """feedback.received records as ingest writes them, keyed by customer."""
    out = []
    now = utcnow().isoformat()
    for i, text in enumerate(bodies):
        fid = deterministic_id("bench", tag, str(i))
        payload = FeedbackReceived.model_validate(
            {
                "feedback_id": fid,
                "received_at": now,
                "client_id": "bench",
                "item": {
                    "channel": "review",
                    "source_system": "bench",
                    "external_id": f"{tag}-{i}",
                    "customer": {"id": f"c-{i % 997}"},
                    "text": text,
                    "occurred_at": now,
                    "rating": 3,
                    "platform": "shop",
                },
            }
        )
        envelope = Envelope.wrap(payload, event_id=fid, producer="bench", correlation_id=fid)
        out.append(encode(envelope, key=payload.item.customer.id, prefix=prefix))
    return out


async def produce(bootstrap: str, batch: list[OutgoingRecord]) -> None:
    """Writes records and waits for every acknowledgement."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        futures = [
            await producer.send(r.topic, r.value, key=r.key, headers=r.headers) for r in batch
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def count_until(bootstrap: str, topic: str, target: int, timeout_s: float) -> float:
    """Tails a topic (read_committed) until `target` records arrived; returns when (perf)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic)
        while not partitions:
            await asyncio.sleep(0.1)
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic)
        consumer.assign([TopicPartition(topic, p) for p in partitions])
        seen, deadline = 0, time.perf_counter() + timeout_s
        while seen < target:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"only {seen} of {target} records on {topic}")
            batch = await consumer.getmany(timeout_ms=200)
            seen += sum(len(v) for v in batch.values())
        return time.perf_counter()
    finally:
        await consumer.stop()


def ceiling(enricher: Enricher, bodies: list[str], batch: int) -> dict[str, float]:
    """Bare forward passes (tokenise + sentiment + embedding), the stage's batching and threads:
    the classifier one item per pass, the encoder in length-sorted sub-batches."""
    models = enricher.models
    models.run(bodies[:64])  # warm-up: first runs allocate
    started, cpu = time.perf_counter(), time.process_time()
    for i in range(0, len(bodies), batch):
        models.run(bodies[i : i + batch])
    whole = len(bodies) / (time.perf_counter() - started)
    whole_cpu = (time.process_time() - cpu) / len(bodies) * 1000
    # The same passes over the sentences the stage actually feeds (it analyses each sentence).
    docs = [enricher.document(b).segments for b in bodies]
    started, cpu = time.perf_counter(), time.process_time()
    for i in range(0, len(docs), batch):
        chunk = docs[i : i + batch]
        models.run([s for d in chunk for s in d], [len(d) for d in chunk])
    segments = len(bodies) / (time.perf_counter() - started)
    segments_cpu = (time.process_time() - cpu) / len(bodies) * 1000
    return {
        "whole_texts": whole,
        "segments": segments,
        "whole_texts_cpu": whole_cpu,
        "segments_cpu": segments_cpu,
    }


async def naive(enricher: Enricher, bootstrap: str, prefix: str, n: int) -> tuple[float, float]:
    """One record at a time with the stage's guarantee: read, enrich alone, and commit its output
    and its offset in one transaction. Items/s and CPU seconds per 1,000 items."""
    topic = prefix + topics.RAW_FEEDBACK
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"{prefix}naive",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        transactional_id=f"{prefix}naive",
    )
    await consumer.start()
    await producer.start()
    try:
        done, started, cpu = 0, 0.0, 0.0
        while done < n:
            record = await consumer.getone()
            if done == 0:
                started, cpu = time.perf_counter(), time.process_time()
            envelope = decode(record.value, accept=[FeedbackReceived])
            item, document = enricher.prepare(envelope.payload)
            (enrichment,) = enricher.analyse([document], source="bench")
            payload = FeedbackEnriched(
                feedback_id=envelope.payload.feedback_id,
                received_at=envelope.payload.received_at,
                item=item,
                enrichment=enrichment,
            )
            out = encode(
                Envelope.wrap(
                    payload,
                    event_id=enricher.enriched_event_id(payload.feedback_id),
                    producer="naive",
                    correlation_id=envelope.correlation_id,
                ),
                key=enrichment.primary_theme or "unthemed",
                prefix=f"{prefix}naive.",
            )
            async with producer.transaction():
                await producer.send(out.topic, out.value, key=out.key, headers=out.headers)
                tp = TopicPartition(record.topic, record.partition)
                await producer.send_offsets_to_transaction(
                    {tp: record.offset + 1}, f"{prefix}naive"
                )
            done += 1
        return n / (time.perf_counter() - started), (time.process_time() - cpu) / n * 1000
    finally:
        await consumer.stop()
        await producer.stop()


async def wait_ready(port: int) -> None:
    """Polls /readyz until the service (models loaded, consumer polling) is ready."""
    async with httpx.AsyncClient(timeout=2) as client:
        for _ in range(600):
            if (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                return
            await asyncio.sleep(0.2)
    raise TimeoutError("feedloop-enrich never became ready")


def peak_rss(pid: int) -> int:
    """The process' peak resident set size (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM"):
            return int(line.split()[1]) * 1024
    return int(psutil.Process(pid).memory_info().rss)


async def stage(
    bootstrap: str, prefix: str, batch: list[OutgoingRecord], threads: int
) -> dict[str, float]:
    """The real service on a backlog: items/s from first to last enriched record; peak RSS."""
    port = free_port()
    env = {
        "FEEDLOOP_ENRICH_ENVIRONMENT": "local",
        "FEEDLOOP_ENRICH_PORT": str(port),
        "FEEDLOOP_ENRICH_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "FEEDLOOP_ENRICH_KAFKA_TOPIC_PREFIX": prefix,
        "FEEDLOOP_ENRICH_KAFKA_CLIENT_ID": f"bench-{prefix}",
        "FEEDLOOP_ENRICH_INTRA_OP_THREADS": str(threads),
        "FEEDLOOP_ENRICH_LOG_LEVEL": "WARNING",
    }
    with service("feedloop-enrich", env, port) as process:
        await wait_ready(port)
        cpu = psutil.Process(process.pid).cpu_times()
        started = time.perf_counter()
        waiter = asyncio.create_task(
            count_until(bootstrap, prefix + topics.ENRICHED, len(batch), timeout_s=900)
        )
        await produce(bootstrap, batch)
        finished = await waiter
        hwm = peak_rss(process.pid)
        end = psutil.Process(process.pid).cpu_times()
        used = (end.user + end.system - cpu.user - cpu.system) / len(batch) * 1000
    return {"items_per_s": len(batch) / (finished - started), "peak_rss": hwm, "cpu": used}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=3000)
    parser.add_argument("--naive-items", type=int, default=300)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    bootstrap = os.environ.get("FEEDLOOP_BENCH_KAFKA", "127.0.0.1:9092")
    settings = EnrichSettings(intra_op_threads=args.threads, log_json=False)
    batch = settings.batch_max_records
    print(f"loading the models ({args.threads} threads) ...", flush=True)
    enricher = Enricher(settings)
    bodies = texts(args.items)

    print(f"ceiling: bare forward passes over {args.items} items ...", flush=True)
    bare = ceiling(enricher, bodies, batch)

    prefix = f"bench{uuid.uuid4().hex[:8]}."
    await ensure_topics(
        ServiceSettings(kafka_bootstrap_servers=bootstrap, kafka_topic_prefix=prefix)
    )
    await ensure_topics(
        ServiceSettings(kafka_bootstrap_servers=bootstrap, kafka_topic_prefix=f"{prefix}naive."),
        [topics.ENRICHED],
    )
    print(f"stage: feedloop-enrich on a backlog of {args.items} items ...", flush=True)
    real = await stage(bootstrap, prefix, records(bodies, prefix, prefix), args.threads)

    naive_prefix = f"bench{uuid.uuid4().hex[:8]}."
    await ensure_topics(
        ServiceSettings(kafka_bootstrap_servers=bootstrap, kafka_topic_prefix=naive_prefix)
    )
    await ensure_topics(
        ServiceSettings(
            kafka_bootstrap_servers=bootstrap, kafka_topic_prefix=f"{naive_prefix}naive."
        ),
        [topics.ENRICHED],
    )
    await produce(bootstrap, records(bodies[: args.naive_items], naive_prefix, naive_prefix))
    print(f"naive: one message at a time over {args.naive_items} items ...", flush=True)
    slow, slow_cpu = await naive(enricher, bootstrap, naive_prefix, args.naive_items)
    # Measured again after the stage: on a shared machine the higher of the two is the ceiling.
    print("ceiling again ...", flush=True)
    again = ceiling(enricher, bodies, batch)
    bare = {k: (min if k.endswith("_cpu") else max)(v, again[k]) for k, v in bare.items()}

    top = max(bare["whole_texts"], bare["segments"])
    rows = [
        ("ceiling: bare passes, whole texts", bare["whole_texts"], bare["whole_texts_cpu"]),
        ("ceiling: bare passes, sentences", bare["segments"], bare["segments_cpu"]),
        ("stage: raw-feedback -> enriched", real["items_per_s"], real["cpu"]),
        ("naive: one message at a time", slow, slow_cpu),
    ]
    print_table(
        f"enrich, {args.threads} intra-op threads, batches of up to {batch} records, "
        f"sub-batches of {settings.inference_batch_size}",
        ["run", "items/s", "vs ceiling", "vs naive", "CPU s / 1k items"],
        [[name, rate, rate / top, rate / slow, cpu] for name, rate, cpu in rows],
    )
    ratio, speedup = real["items_per_s"] / top, real["items_per_s"] / slow
    print(f"\n  stage peak RSS: {real['peak_rss'] / 2**20:,.0f} MiB")
    print(f"  stage / ceiling: {ratio:.0%}   stage / naive: {speedup:.1f}x (wall clock)")
    cpu_floor = min(bare["whole_texts_cpu"], bare["segments_cpu"])
    print(
        f"  CPU per item, ceiling / stage: {cpu_floor / real['cpu']:.0%}   "
        f"naive / stage: {slow_cpu / real['cpu']:.1f}x (robust to other load on the machine)"
    )
    print(f"  load average: {os.getloadavg()[0]:.2f} (machine cores: {os.cpu_count()})")


if __name__ == "__main__":
    asyncio.run(main())
