"""Erasing a customer from the topics: Kafka cannot delete one record, so we cut logs short.

The mechanism (docs/runbook.md, "Data-rights requests", says why this one):

- Pipeline topics (`raw-feedback`, `enriched`, `prioritized`, `closed`): once every service
  has confirmed an erasure, the offsets each partition had then are the erasure's *cut*.
  Every record before the cut was produced before the request, so it is the only place the
  customer's text, e-mail or handle can still be. Records before the cut are deleted
  (`DeleteRecords`) as soon as every consumer group reading the topic has committed past
  them, never earlier: nothing unconsumed is lost. The erasure is done on the topics when every
  partition's log start has reached its cut.
- Dead-letter topics are read by people, not groups, and must keep other customers' records:
  a partition holding one of the customer's dead letters is rewritten (the others' records
  before it are produced again at its end, then the log is cut past it).

The price: after an erasure the pipeline topics keep only what was produced since, so a
re-analysis (`feedloop-enrich reprocess`) and ingest's warm-up find less history.
"""

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete
from feedloop.common.kafka import Record

log = logging.getLogger(__name__)

Offsets = dict[TopicPartition, int]


@dataclass(frozen=True)
class TopicCut:
    """Where each partition of a pipeline topic must start for an erasure to be done."""

    cut: Offsets

    def as_json(self) -> dict[str, int]:
        """The cut as {"topic/partition": offset} (stored with the request)."""
        return {f"{tp.topic}/{tp.partition}": offset for tp, offset in self.cut.items()}

    @classmethod
    def from_json(cls, stored: Mapping[str, int]) -> "TopicCut":
        """Reads a cut stored by as_json."""
        cut = {}
        for name, offset in stored.items():
            topic, partition = name.rsplit("/", 1)
            cut[TopicPartition(topic, int(partition))] = int(offset)
        return cls(cut)


def customer_markers(customer_id: str) -> tuple[bytes, ...]:
    """What a record naming the customer holds: their id as a JSON string."""
    return (f'"{customer_id}"'.encode(),)


def names_customer(record: Record, customer_id: str) -> bool:
    """True when a record's key is the customer's id or its value names them."""
    if record.key is not None and record.key.decode(errors="replace") == customer_id:
        return True
    value = record.value or b""
    return any(marker in value for marker in customer_markers(customer_id))


async def partitions_of(consumer: AIOKafkaConsumer, topics: Iterable[str]) -> list[TopicPartition]:
    """Returns every partition of the topics (those that exist)."""
    found = []
    # The consumer's own metadata knows only topics it was assigned; ask the cluster.
    cluster = await consumer._client.fetch_all_metadata()
    for topic in topics:
        for partition in sorted(cluster.partitions_for_topic(topic) or ()):
            found.append(TopicPartition(topic, partition))
    return found


async def take_cut(consumer: AIOKafkaConsumer, topics: Iterable[str]) -> TopicCut:
    """Returns the end offsets of every partition of the topics, now."""
    tps = await partitions_of(consumer, topics)
    return TopicCut(dict(await consumer.end_offsets(tps)) if tps else {})


async def committed_floor(
    admin: AIOKafkaAdminClient, groups: Sequence[str], tps: Sequence[TopicPartition]
) -> Offsets:
    """The lowest offset every group has committed on each partition (0 where one has not)."""
    floor = dict.fromkeys(tps, -1)
    for group in groups:
        offsets = await admin.list_consumer_group_offsets(group, partitions=list(tps))
        for tp in tps:
            committed = offsets.get(tp)
            mine = committed.offset if committed is not None and committed.offset >= 0 else 0
            floor[tp] = mine if floor[tp] < 0 else min(floor[tp], mine)
    return {tp: max(0, offset) for tp, offset in floor.items()}


async def cut_consumed(
    admin: AIOKafkaAdminClient,
    consumer: AIOKafkaConsumer,
    cut: TopicCut,
    groups_by_topic: Mapping[str, Sequence[str]],
) -> tuple[int, bool]:
    """Deletes what every group consumed before the cut; returns (records deleted, done)."""
    starts = await consumer.beginning_offsets(list(cut.cut))
    deleting: dict[TopicPartition, RecordsToDelete] = {}
    deleted = 0
    done = True
    for topic in {tp.topic for tp in cut.cut}:
        tps = [tp for tp in cut.cut if tp.topic == topic]
        floor = await committed_floor(admin, groups_by_topic.get(topic, ()), tps)
        for tp in tps:
            target = min(cut.cut[tp], floor[tp]) if groups_by_topic.get(topic) else cut.cut[tp]
            if target > starts[tp]:
                deleting[tp] = RecordsToDelete(before_offset=target)
                deleted += target - starts[tp]
            if max(target, starts[tp]) < cut.cut[tp]:
                done = False
    if deleting:
        await admin.delete_records(deleting, timeout_ms=30_000)
    return deleted, done


async def read_partition(consumer: AIOKafkaConsumer, tp: TopicPartition) -> list[Record]:
    """Reads a (small) partition from its log start to its end."""
    start = (await consumer.beginning_offsets([tp]))[tp]
    end = (await consumer.end_offsets([tp]))[tp]
    consumer.assign([tp])
    consumer.seek(tp, start)
    records: list[Record] = []
    while await consumer.position(tp) < end:
        batch = await consumer.getmany(tp, timeout_ms=1000, max_records=1000)
        records.extend(r for r in batch.get(tp, []) if r.offset < end)
    return records


async def rewrite_without(
    admin: AIOKafkaAdminClient,
    consumer: AIOKafkaConsumer,
    producer: AIOKafkaProducer,
    tp: TopicPartition,
    customer_id: str,
) -> int:
    """Removes a customer's records from a dead-letter partition; returns how many."""
    records = await read_partition(consumer, tp)
    matches = [r.offset for r in records if names_customer(r, customer_id)]
    if not matches:
        return 0
    last = max(matches)
    gone = set(matches)
    kept = [r for r in records if r.offset <= last and r.offset not in gone]
    for record in kept:
        await producer.send_and_wait(
            tp.topic,
            value=record.value,
            key=record.key,
            partition=tp.partition,
            headers=list(record.headers or ()),
        )
    await admin.delete_records({tp: RecordsToDelete(before_offset=last + 1)}, timeout_ms=30_000)
    log.info(
        "dead letters of an erased customer removed",
        extra={"topic": tp.topic, "partition": tp.partition, "removed": len(matches)},
    )
    return len(matches)


async def scrub_dead_letters(
    admin: AIOKafkaAdminClient,
    consumer: AIOKafkaConsumer,
    producer: AIOKafkaProducer,
    topics: Iterable[str],
    customer_id: str,
) -> int:
    """Removes a customer's records from every dead-letter topic; returns how many."""
    removed = 0
    for tp in await partitions_of(consumer, topics):
        removed += await rewrite_without(admin, consumer, producer, tp, customer_id)
    return removed
