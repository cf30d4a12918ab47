"""Consumer lag of each pipeline stage: committed offset vs end offset, per partition."""

from dataclasses import dataclass, field

from aiokafka import TopicPartition
from aiokafka.structs import OffsetAndMetadata
from feedloop.cli.kafka import admin_client, consumer, offset_range, topic_partitions
from feedloop.common import topics
from feedloop.common.settings import ServiceSettings


@dataclass(frozen=True, slots=True)
class Stage:
    """A consumer group reading one topic."""

    name: str
    group: str
    topic: str


STAGES = (
    Stage("enrich", topics.CONSUMER_GROUP_ENRICH, topics.RAW_FEEDBACK),
    Stage("prioritize", topics.CONSUMER_GROUP_PRIORITIZE, topics.ENRICHED),
    Stage("notify", topics.CONSUMER_GROUP_NOTIFY, topics.PRIORITIZED),
    Stage("prioritize-closed", topics.CONSUMER_GROUP_PRIORITIZE_CLOSED, topics.CLOSED),
)


@dataclass(frozen=True, slots=True)
class PartitionLag:
    """Lag of a group on one partition; `committed` is None when the group never committed."""

    partition: int
    committed: int | None
    end: int
    lag: int


@dataclass(slots=True)
class StageLag:
    """Lag of one stage's group on its input topic."""

    stage: str
    group: str
    topic: str
    partitions: list[PartitionLag] = field(default_factory=list)
    error: str | None = None

    @property
    def lag(self) -> int:
        """Records the group has yet to read, over all partitions."""
        return sum(p.lag for p in self.partitions)


async def measure_lag(
    *, settings: ServiceSettings, stages: tuple[Stage, ...] = STAGES
) -> list[StageLag]:
    """Measures the lag of every stage (a group without commits lags by the whole topic)."""
    results = [StageLag(s.name, s.group, settings.topic(s.topic)) for s in stages]
    async with admin_client(settings) as admin, consumer(settings) as reader:
        found = await topic_partitions(admin, [r.topic for r in results])
        begins, ends = await offset_range(reader, [tp for tps in found.values() for tp in tps])
        for result in results:
            if result.topic not in found:
                result.error = "topic does not exist"
                continue
            tps = found[result.topic]
            committed = await admin.list_consumer_group_offsets(result.group, partitions=tps)
            result.partitions = [
                _partition_lag(tp, committed.get(tp), begins[tp], ends[tp]) for tp in tps
            ]
    return results


def _partition_lag(
    tp: TopicPartition, meta: OffsetAndMetadata | None, begin: int, end: int
) -> PartitionLag:
    offset = meta.offset if meta is not None else -1
    committed = offset if offset >= 0 else None
    # With no commit the group starts at the log start (auto_offset_reset=earliest).
    position = committed if committed is not None else begin
    return PartitionLag(tp.partition, committed, end, max(0, end - position))
