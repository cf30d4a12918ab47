"""`feedloop lag` against the real broker, for a group whose offsets the test commits."""

import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from feedloop.common import topics

from .conftest import Invoke, as_json


async def commit(bootstrap: str, group: str, offsets: dict[TopicPartition, int]) -> None:
    """Commits offsets for a group the way a stage's consumer would."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign(list(offsets))
        await consumer.commit(offsets)
    finally:
        await consumer.stop()


async def test_lag_reports_committed_end_and_lag_per_partition_and_stage(
    cli: Invoke, raw_producer: AIOKafkaProducer, kafka_bootstrap: str, topic_prefix: str
) -> None:
    raw = topic_prefix + topics.RAW_FEEDBACK
    for partition, n in ((0, 3), (1, 2)):
        for i in range(n):
            await raw_producer.send_and_wait(raw, b"{}", key=f"k{i}".encode(), partition=partition)
    await raw_producer.send_and_wait(topic_prefix + topics.CLOSED, b"{}", partition=2)
    # Our own group name: the stages' real groups may be live on the shared test broker.
    group = f"test-enrich-{uuid.uuid4().hex[:8]}"
    await commit(kafka_bootstrap, group, {TopicPartition(raw, 0): 1})

    report = as_json(await cli("--json", "lag", "--group", f"enrich={group}"))
    stages = {s["stage"]: s for s in report["stages"]}

    assert list(stages) == ["enrich", "prioritize", "notify", "prioritize-closed"]
    enrich = stages["enrich"]
    assert (enrich["group"], enrich["topic"], enrich["lag"]) == (group, raw, 4)
    assert [(p["partition"], p["committed"], p["end"], p["lag"]) for p in enrich["partitions"]] == [
        (0, 1, 3, 2),
        (1, None, 2, 2),
        (2, None, 0, 0),
    ]
    assert stages["prioritize"]["group"] == topics.CONSUMER_GROUP_PRIORITIZE
    assert stages["prioritize"]["lag"] == 0
    assert stages["prioritize-closed"]["lag"] == 1  # no commits: the whole topic

    over = await cli("lag", "--group", f"enrich={group}", "--max-lag", "3")
    within = await cli("lag", "--group", f"enrich={group}", "--max-lag", "4")
    assert (over.exit_code, within.exit_code) == (1, 0)
    assert "enrich" in within.stdout
    assert group in within.stdout


async def test_lag_fails_clearly_when_the_topics_are_missing(
    cli: Invoke, kafka_bootstrap: str
) -> None:
    result = await cli("--topic-prefix", f"absent-{uuid.uuid4().hex[:6]}.", "--json", "lag")
    assert result.exit_code == 1
    assert {s["error"] for s in as_json(result)["stages"]} == {"topic does not exist"}
