"""`scripts/kafka.sh reset` (`make kafka-reset`): a wiped, freshly formatted broker, topics back."""

import os
import subprocess
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from feedloop.common import topics

ROOT = Path(__file__).resolve().parents[2]
PORT = os.environ.get("FEEDLOOP_TEST_KAFKA_RESET_PORT", "29392")

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def kafka_sh(action: str, data: Path) -> subprocess.CompletedProcess[str]:
    """Runs scripts/kafka.sh on a broker of its own (own port and data directory)."""
    env = os.environ | {"KAFKA_PORT": PORT, "KAFKA_DATA": str(data), "KAFKA_HEAP": "256m"}
    return subprocess.run(
        [str(ROOT / "scripts" / "kafka.sh"), action],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def cluster_id(data: Path) -> str:
    """The cluster id the storage was formatted with."""
    lines = (data / "data" / "meta.properties").read_text().splitlines()
    (line,) = [line for line in lines if line.startswith("cluster.id=")]
    return line.split("=", 1)[1]


async def end_offset(topic: str) -> int:
    """The end offset of partition 0 of a topic."""
    consumer = AIOKafkaConsumer(bootstrap_servers=f"127.0.0.1:{PORT}")
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        return int((await consumer.end_offsets([tp]))[tp])
    finally:
        await consumer.stop()


async def test_reset_wipes_records_and_formats_a_new_cluster_with_every_topic(
    tmp_path: Path,
) -> None:
    data = tmp_path / "kafka"
    try:
        up = kafka_sh("up", data)
        assert up.returncode == 0, up.stderr
        before = cluster_id(data)
        producer = AIOKafkaProducer(bootstrap_servers=f"127.0.0.1:{PORT}")
        await producer.start()
        try:
            await producer.send_and_wait(topics.RAW_FEEDBACK, b"{}", partition=0)
        finally:
            await producer.stop()
        assert await end_offset(topics.RAW_FEEDBACK) == 1

        reset = kafka_sh("reset", data)
        assert reset.returncode == 0, reset.stderr
        assert "wiping" in reset.stderr and "topics created" in reset.stderr
        assert cluster_id(data) != before, "the storage was not formatted afresh"
        for topic in topics.PIPELINE_TOPICS:
            assert await end_offset(topic) == 0, f"{topic} kept records through the reset"
    finally:
        kafka_sh("down", data)


def test_reset_refuses_to_wipe_a_directory_that_holds_no_broker(tmp_path: Path) -> None:
    keep = tmp_path / "keep.txt"
    keep.write_text("not Kafka's")
    out = kafka_sh("reset", tmp_path)
    assert out.returncode != 0
    assert "refusing" in out.stderr
    assert keep.exists()
