"""Benchmark of enrich v2: CPU seconds per 1,000 items for the stage, its batched ceiling, a naive
loop and the v1 models, on one mix of texts in seven languages, short and long.

    python -m benchmarks.bench_enrich [--items 300] [--naive-items 60] [--check-items 100]
                                      [--long-share 0.05] [--threads 2] [--no-v1-stage]
                                      [--no-one-thread]

What runs, all on the same items (labelled texts of services/enrich/quality, one to three
joined, some with contact details, and a share of long e-mails of 8 to 20 texts):

- stage: `feedloop-enrich` as its own process (as deployed) on a backlog in `raw-feedback`,
  until every item is on `enriched`; its CPU and peak RSS are read from its process.
- ceiling: `Enricher.analyse` in this process on the same documents, in the stage's batches.
- naive: one record at a time through Kafka (read, enrich alone, one transaction each), and
  one `analyse` call per item in this process (which gives per-item latency).
- v1: the v1 models (benchmarks/enrich_v1.py: the int8 MiniLM classifier per item plus the
  MiniLM sentence encoder per segment, the same ONNX files) as a ceiling in this process and as
  a stage process through Kafka.
- own pass: the ceiling again on enrich's own USE-m3 forward pass (enrich/network.py), which
  a sentiment head reading token features needs; the wheel's encoder runs otherwise.
- batch invariance: the same items analysed one at a time and in shuffled batches.
- one thread: the stage and the ceiling again with one intra-op thread. With two, an OpenBLAS
  worker spins while it waits for its partner, and on a busy machine that spinning is CPU time
  too; one thread is the work itself, so its figures hold whatever else runs.

CPU is process CPU time (user + system of every thread), so other load on the machine changes
it far less than wall time; contention for caches and cores still shows a little, so the load
average is printed. Kafka: FEEDLOOP_BENCH_KAFKA (default 127.0.0.1:9092, `make kafka-up`).
"""

import argparse
import asyncio
import contextlib
import logging
import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
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
    Enrichment,
    Envelope,
    FeedbackEnriched,
    FeedbackReceived,
    deterministic_id,
    utcnow,
)
from feedloop.common.kafka import ensure_topics  # noqa: E402
from feedloop.common.settings import ServiceSettings  # noqa: E402
from feedloop.enrich.encoder import MultilingualEncoder  # noqa: E402
from feedloop.enrich.service import Document, Enricher  # noqa: E402
from feedloop.enrich.settings import EnrichSettings  # noqa: E402

from benchmarks.common import VENV_BIN, free_port, percentile, print_table, wait_http  # noqa: E402
from benchmarks.enrich_v1 import V1Enricher  # noqa: E402

QUALITY = ROOT / "services" / "enrich" / "quality"
SOURCES = [QUALITY / "feedback_labelled.yaml", *sorted((QUALITY / "labelled").glob("*.yaml"))]
PII = [" Call me on +44 20 7946 0958.", " My e-mail is jo.bloggs@example.org.", ""]
GiB = 2**30


# ---------------------------------------------------------------- the items
def texts(n: int, *, long_share: float, seed: int = 7) -> list[str]:
    """Feedback in the languages of our labelled sets, as often as each set is large.

    An item is one to three texts of one language (some with contact details), or with
    probability long_share a long e-mail of 8 to 20 texts in paragraphs.
    """
    pool: dict[str, list[str]] = {}
    for source in SOURCES:
        for item in yaml.safe_load(source.read_text())["items"]:
            lang = item.get("lang") if item.get("lang") != "und" else "en"
            pool.setdefault(str(lang), []).append(str(item["text"]))
    languages = sorted(pool)
    weights = [len(pool[lang]) for lang in languages]
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        lang = rng.choices(languages, weights)[0]
        if rng.random() < long_share:
            body = "\n\n".join(rng.sample(pool[lang], min(len(pool[lang]), rng.randint(8, 20))))
        else:
            body = " ".join(rng.sample(pool[lang], rng.choice((1, 1, 2, 3))))
        out.append(body + rng.choice(PII))
    return out


def records(bodies: list[str], prefix: str) -> list[OutgoingRecord]:
    """feedback.received records as ingest writes them, keyed by customer."""
    out = []
    now = utcnow().isoformat()
    for i, text in enumerate(bodies):
        fid = deterministic_id("bench", prefix, str(i))
        payload = FeedbackReceived.model_validate(
            {
                "feedback_id": fid,
                "received_at": now,
                "client_id": "bench",
                "item": {
                    "channel": "review",
                    "source_system": "bench",
                    "external_id": f"{prefix}{i}",
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


# ---------------------------------------------------------------- in-process runs
class Run:
    """One measured run: items, wall seconds, process CPU seconds (and what else it measured)."""

    def __init__(self, items: int, wall: float, cpu: float, **extra: float) -> None:
        self.items, self.wall, self.cpu, self.extra = items, wall, cpu, extra

    @property
    def rate(self) -> float:
        return self.items / self.wall

    @property
    def cpu_per_1k(self) -> float:
        return self.cpu / self.items * 1000


@contextlib.contextmanager
def measured() -> Iterator[list[float]]:
    """Yields a list that holds [wall, cpu] of this process once the block ends."""
    box: list[float] = []
    wall, cpu = time.perf_counter(), time.process_time()
    yield box
    box += [time.perf_counter() - wall, time.process_time() - cpu]


def token_pass(threads: int) -> Enricher:
    """The shipped head on enrich's own forward pass, which also computes the token features a
    head may read (network.py): what the stage costs with such a head, less the head itself."""
    enricher = Enricher(EnrichSettings(intra_op_threads=threads, log_json=False))
    enricher.encoder = MultilingualEncoder(threads=threads, token_features=True)
    return enricher


def batched(enricher: Enricher, documents: Sequence[Document], batch: int) -> Run:
    """analyse over the documents in the stage's batches (after one warm-up batch)."""
    enricher.analyse(documents[:batch])
    with measured() as m:
        for i in range(0, len(documents), batch):
            enricher.analyse(documents[i : i + batch], source="bench")
    return Run(len(documents), *m)


def one_at_a_time(
    enricher: Enricher, documents: Sequence[Document]
) -> tuple[Run, list[Enrichment]]:
    """One analyse call per document; per-item wall times give p50 / p99."""
    times, results = [], []
    with measured() as m:
        for document in documents:
            started = time.perf_counter()
            results += enricher.analyse([document], source="bench")
            times.append(time.perf_counter() - started)
    run = Run(
        len(documents), *m, p50_ms=percentile(times, 50) * 1e3, p99_ms=percentile(times, 99) * 1e3
    )
    return run, results


def hostile(enricher: Enricher, repeats: int) -> dict[str, object]:
    """Per-item time of the stage's work (decode, redact and segment, analyse alone) on the
    hostile corpus of tests/hostile (regex bombs, 1 MB and 64 KB texts, odd characters, broken
    records), `repeats` rounds; records that fail decoding or preparation count as the stage
    dead-letters them, after the time they took."""
    from tests.hostile.consumer_corpus import raw_feedback_cases

    times: list[tuple[float, str]] = []
    outcomes: dict[str, int] = {}
    for _ in range(repeats):
        for case in raw_feedback_cases("bench"):
            started = time.perf_counter()
            try:
                event = decode(case.value, accept=[FeedbackReceived]).payload
                _, document = enricher.prepare(event)
                enricher.analyse([document], source="bench")
                outcome = "enriched"
            except Exception as exc:  # the stage dead-letters each of these
                reason = getattr(exc, "reason", None) or type(exc).__name__
                outcome = f"dead-lettered ({reason})"
            times.append((time.perf_counter() - started, case.name.removeprefix("bench-raw-")))
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
    seconds = [t for t, _ in times]
    slowest, name = max(times)
    return {
        "items": len(times) // repeats,
        "p50_ms": percentile(seconds, 50) * 1e3,
        "p99_ms": percentile(seconds, 99) * 1e3,
        "max_ms": slowest * 1e3,
        "slowest": name,
        "outcomes": {k: v // repeats for k, v in sorted(outcomes.items())},
    }


def labels(result: Enrichment) -> tuple[object, ...]:
    """Everything a consumer reads as a label: sentiment, themes and their sentiment, language."""
    themes = tuple((t.theme, t.sentiment and t.sentiment.label) for t in result.themes)
    return (result.sentiment.label, result.primary_theme, themes, result.language.code)


def invariance(
    enricher: Enricher, documents: Sequence[Document], alone: list[Enrichment], batch: int
) -> dict[str, float]:
    """Analyses the documents in shuffled stage-sized batches; compares with one at a time."""
    order = list(range(len(documents)))
    random.Random(11).shuffle(order)
    shuffled: dict[int, Enrichment] = {}
    for i in range(0, len(order), batch):
        rows = order[i : i + batch]
        for row, result in zip(
            rows, enricher.analyse([documents[r] for r in rows], source="bench"), strict=True
        ):
            shuffled[row] = result
    differ = sum(labels(alone[i]) != labels(shuffled[i]) for i in order)
    drift = 0.0
    for i in order:
        pairs = zip(alone[i].embedding, shuffled[i].embedding, strict=True)
        drift = max([drift, *(abs(a - b) for a, b in pairs)])
    return {"items": len(order), "differ": differ, "embedding_drift": drift}


# ---------------------------------------------------------------- Kafka runs
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


async def fresh_topics(bootstrap: str) -> str:
    """Creates the loop's topics under a new prefix (and `<prefix>naive.enriched`)."""
    prefix = f"bench{uuid.uuid4().hex[:8]}."
    await ensure_topics(
        ServiceSettings(kafka_bootstrap_servers=bootstrap, kafka_topic_prefix=prefix)
    )
    await ensure_topics(
        ServiceSettings(kafka_bootstrap_servers=bootstrap, kafka_topic_prefix=f"{prefix}naive."),
        [topics.ENRICHED],
    )
    return prefix


async def naive(enricher: Enricher, bootstrap: str, prefix: str, n: int) -> Run:
    """One record at a time with the stage's guarantee: read, prepare and analyse it alone, and
    commit its output and its offset in one transaction."""
    consumer = AIOKafkaConsumer(
        prefix + topics.RAW_FEEDBACK,
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
        return Run(n, time.perf_counter() - started, time.process_time() - cpu)
    finally:
        await consumer.stop()
        await producer.stop()


@contextlib.contextmanager
def process(argv: list[str], env: dict[str, str], port: int, log: str) -> Iterator[int]:
    """Runs a stage process with its settings as env vars until the block ends; yields its pid."""
    log_path = ROOT / ".local" / f"bench-{log}.log"
    log_path.parent.mkdir(exist_ok=True)
    with log_path.open("wb") as out:
        child = subprocess.Popen(
            argv, cwd=ROOT, env=os.environ | env, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            wait_http(port, timeout_s=180)
            yield child.pid
        finally:
            child.terminate()
            try:
                child.wait(30)
            except subprocess.TimeoutExpired:
                child.kill()


async def wait_ready(port: int) -> None:
    """Polls /readyz until the service (models loaded, consumer polling) is ready."""
    async with httpx.AsyncClient(timeout=2) as client:
        for _ in range(900):
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise TimeoutError("the enrich stage never became ready")


def peak_rss(pid: int) -> int:
    """The process' peak resident set size (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM"):
            return int(line.split()[1]) * 1024
    return int(psutil.Process(pid).memory_info().rss)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process, all its threads."""
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


async def stage(bootstrap: str, bodies: list[str], threads: int, *, v1: bool) -> Run:
    """The enrich service on a backlog: from the first record written to the last enriched."""
    prefix = await fresh_topics(bootstrap)
    port = free_port()
    env = {
        "FEEDLOOP_ENRICH_ENVIRONMENT": "local",
        "FEEDLOOP_ENRICH_PORT": str(port),
        "FEEDLOOP_ENRICH_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "FEEDLOOP_ENRICH_KAFKA_TOPIC_PREFIX": prefix,
        "FEEDLOOP_ENRICH_KAFKA_CLIENT_ID": f"bench-{prefix}",
        "FEEDLOOP_ENRICH_INTRA_OP_THREADS": str(threads),
        "FEEDLOOP_ENRICH_LOG_LEVEL": "WARNING",
        "FEEDLOOP_ENRICH_METRICS_PORT": str(free_port()),
    }
    argv = (
        [str(VENV_BIN / "python"), "-m", "benchmarks.enrich_v1"]
        if v1
        else [str(VENV_BIN / "feedloop-enrich")]
    )
    batch = records(bodies, prefix)
    with process(argv, env, port, "enrich-v1" if v1 else "enrich") as pid:
        await wait_ready(port)
        await asyncio.sleep(1.0)  # let start-up work settle before the CPU baseline
        cpu, started = cpu_seconds(pid), time.perf_counter()
        waiter = asyncio.create_task(
            count_until(bootstrap, prefix + topics.ENRICHED, len(batch), 120 + len(batch))
        )
        await produce(bootstrap, batch)
        finished = await waiter
        used, hwm = cpu_seconds(pid) - cpu, peak_rss(pid)
    return Run(len(batch), finished - started, used, peak_rss=hwm)


# ---------------------------------------------------------------- report
def aim(ok: bool) -> str:
    return "met" if ok else "NOT met"


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=300, help="stage, ceiling and v1 runs")
    parser.add_argument("--naive-items", type=int, default=60, help="naive loop via Kafka")
    parser.add_argument("--check-items", type=int, default=100, help="one at a time, invariance")
    parser.add_argument("--long-share", type=float, default=0.05, help="share of long e-mails")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--hostile-repeats", type=int, default=3, help="rounds over the hostile corpus"
    )
    parser.add_argument("--no-v1-stage", action="store_true", help="skip the v1 stage process")
    parser.add_argument(
        "--no-one-thread", action="store_true", help="skip the stage and ceiling on one thread"
    )
    args = parser.parse_args()
    bootstrap = os.environ.get("FEEDLOOP_BENCH_KAFKA", "127.0.0.1:9092")
    # Fresh topics answer NotLeaderForPartition for a moment; the producer retries by itself.
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    logging.getLogger("aiokafka.cluster").setLevel(logging.CRITICAL)  # "not found" likewise
    load_before = os.getloadavg()
    settings = EnrichSettings(intra_op_threads=args.threads, log_json=False)
    batch = settings.batch_max_records

    bodies = texts(args.items, long_share=args.long_share)
    print(f"loading v2 and the v1 reference ({args.threads} threads) ...", flush=True)
    enricher = Enricher(settings)
    reference = V1Enricher(settings)
    with measured() as m:
        prepared = [enricher.prepare(r) for r in _events(bodies)]
    prepare = Run(len(bodies), *m)
    documents = [document for _, document in prepared]
    segments = sum(len(d.segments) for d in documents)
    languages: dict[str, int] = {}
    for d in documents[: args.check_items]:
        code = enricher.languages.detect(d.text).code
        languages[code] = languages.get(code, 0) + 1
    print(
        f"{len(bodies)} items, {segments / len(bodies):.1f} segments per item "
        f"(max {max(len(d.segments) for d in documents)}), "
        f"{sum(len(b) for b in bodies) / len(bodies):,.0f} characters per item; "
        f"languages of the first {min(args.check_items, len(bodies))}: "
        + ", ".join(f"{k} {v}" for k, v in sorted(languages.items(), key=lambda kv: -kv[1])),
        flush=True,
    )

    print("ceiling: Enricher.analyse in the stage's batches ...", flush=True)
    ceiling = batched(enricher, documents, batch)
    print("v1 reference: the v1 models' analyse in the same batches ...", flush=True)
    v1_ceiling = batched(reference, documents, batch)
    print("the same on enrich's own forward pass (token features), same batches ...", flush=True)
    with_tokens = token_pass(args.threads)
    token_ceiling = batched(with_tokens, documents, batch)
    del with_tokens
    checked = documents[: args.check_items]
    print(f"one at a time and shuffled batches over {len(checked)} items ...", flush=True)
    single, alone = one_at_a_time(enricher, checked)
    invariant = invariance(enricher, checked, alone, batch)
    print(f"hostile corpus of tests/hostile, {args.hostile_repeats} rounds ...", flush=True)
    bombs = hostile(enricher, args.hostile_repeats)

    print(f"stage: feedloop-enrich on a backlog of {len(bodies)} items ...", flush=True)
    real = await stage(bootstrap, bodies, args.threads, v1=False)
    v1_real = None
    if not args.no_v1_stage:
        print(f"v1 stage: the same service with the v1 models, {len(bodies)} items ...", flush=True)
        v1_real = await stage(bootstrap, bodies, args.threads, v1=True)
    ceiling_1t = real_1t = None
    if args.threads > 1 and not args.no_one_thread:
        # One thread: no BLAS worker spinning while it waits for its partner, so the CPU figures
        # hold on a busy machine (spinning inflates them there) and read as the work itself.
        print("stage and ceiling again on one thread ...", flush=True)
        single_thread = Enricher(EnrichSettings(intra_op_threads=1, log_json=False))
        ceiling_1t = batched(single_thread, documents, batch)
        del single_thread
        real_1t = await stage(bootstrap, bodies, 1, v1=False)
    naive_n = min(args.naive_items, len(bodies))
    print(f"naive: one record per transaction over {naive_n} items ...", flush=True)
    prefix = await fresh_topics(bootstrap)
    await produce(bootstrap, records(bodies[:naive_n], prefix))
    slow = await naive(enricher, bootstrap, prefix, naive_n)
    load_after = os.getloadavg()

    rows: list[tuple[str, Run | None]] = [
        ("(a) stage: raw-feedback -> enriched, own process", real),
        ("(b) ceiling: Enricher.analyse, stage batches", ceiling),
        ("(c) naive: one record per Kafka transaction", slow),
        ("    one analyse() call per item, in-process", single),
        ("(d) v1 reference: v1 models' analyse, batches", v1_ceiling),
        ("(e) ceiling on enrich's own pass (token features)", token_ceiling),
        ("    v1 stage: the same service, v1 models", v1_real),
        ("    redaction + segmentation (Enricher.prepare)", prepare),
        ("(a) stage, 1 thread", real_1t),
        ("(b) ceiling, 1 thread", ceiling_1t),
    ]
    print_table(
        f"enrich v2 ({enricher.versions[0]}, {enricher.versions[1]}), {args.threads} threads, "
        f"batches of up to {batch} records",
        ["run", "items", "items/s (wall)", "CPU s / 1k items", "vs stage CPU"],
        [
            [name, r.items, r.rate, r.cpu_per_1k, r.cpu_per_1k / real.cpu_per_1k]
            for name, r in rows
            if r is not None
        ],
    )
    rss = real.extra["peak_rss"]
    efficiency = ceiling.cpu_per_1k / real.cpu_per_1k
    print()
    print(f"  stage peak RSS: {rss / 2**20:,.0f} MiB (aim < 1 GiB: {aim(rss < GiB)})")
    if v1_real is not None:
        print(f"  v1 stage peak RSS: {v1_real.extra['peak_rss'] / 2**20:,.0f} MiB")
        ratio = real.cpu_per_1k / v1_real.cpu_per_1k
        print(f"  CPU per item, v2 stage / v1 stage: {ratio:.2f} (aim <= 0.5: {aim(ratio <= 0.5)})")
    else:
        # The stage's work around the models is the same code in both: add it to v1's models.
        v1_estimate = v1_ceiling.cpu_per_1k + real.cpu_per_1k - ceiling.cpu_per_1k
        ratio = real.cpu_per_1k / v1_estimate
        print(
            f"  CPU per item, v2 stage / v1 stage (v1 estimated as its models' analyse plus the "
            f"v2 stage's work around them): {ratio:.2f} (aim <= 0.5: {aim(ratio <= 0.5)})"
        )
    print(f"  CPU per item, v2 ceiling / v1 reference: {ceiling.cpu / v1_ceiling.cpu:.2f}")
    print(
        f"  CPU per item, ceiling on enrich's own pass with token features / on the wheel's "
        f"encoder: {token_ceiling.cpu / ceiling.cpu:.2f}"
    )
    print(
        f"  ceiling efficiency of the stage (ceiling CPU / stage CPU per item): "
        f"{efficiency:.2f} (aim >= 0.8: {aim(efficiency >= 0.8)}); "
        f"stage / naive CPU per item: {real.cpu_per_1k / slow.cpu_per_1k:.2f}"
    )
    if real_1t is not None and ceiling_1t is not None:
        one = ceiling_1t.cpu_per_1k / real_1t.cpu_per_1k
        print(
            f"  on 1 thread: ceiling efficiency {one:.2f} (aim >= 0.8: {aim(one >= 0.8)}); "
            f"v2 stage / v1 stage CPU per item "
            + (f"{real_1t.cpu_per_1k / v1_real.cpu_per_1k:.2f}" if v1_real else "-")
            + f"; {args.threads}-thread / 1-thread CPU: stage "
            f"{real.cpu_per_1k / real_1t.cpu_per_1k:.2f}, ceiling "
            f"{ceiling.cpu_per_1k / ceiling_1t.cpu_per_1k:.2f} (above 1: BLAS threads spinning "
            f"while they wait, which grows with the load on the machine)"
        )
    print(
        f"  per-item analysis time, one item per call: p50 {single.extra['p50_ms']:.1f} ms, "
        f"p99 {single.extra['p99_ms']:.1f} ms"
    )
    print(
        f"  per-item time on the hostile corpus ({bombs['items']} records: decode, redact and "
        f"segment, analyse alone): p50 {bombs['p50_ms']:.1f} ms, p99 {bombs['p99_ms']:.1f} ms, "
        f"max {bombs['max_ms']:.1f} ms ({bombs['slowest']}); stage budget per item "
        f"{settings.item_budget_s:g} s; outcomes {bombs['outcomes']}"
    )
    print(
        f"  batch invariance: {invariant['differ']:.0f} of {invariant['items']:.0f} items with "
        f"different labels alone vs in shuffled batches (sentiment, themes and their sentiment, "
        f"language; expected 0); largest embedding difference "
        f"{invariant['embedding_drift']:.1e}"
    )
    print(
        f"  load average (1 min) {load_before[0]:.2f} before, {load_after[0]:.2f} after; "
        f"{os.cpu_count()} cores on the machine"
    )


def _events(bodies: list[str]) -> list[FeedbackReceived]:
    """The items as the stage decodes them (for prepare in this process)."""
    return [decode(r.value, accept=[FeedbackReceived]).payload for r in records(bodies, "inproc.")]


if __name__ == "__main__":
    asyncio.run(main())
