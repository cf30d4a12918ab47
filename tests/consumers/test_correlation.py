"""Every consumed record has a correlation id in the logs and in the records produced for it."""

import logging
from collections.abc import AsyncIterator, Iterator, Sequence

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from feedloop.common import topics
from feedloop.common.codec import OutgoingRecord, header
from feedloop.common.consumer import BatchConsumer, correlation_of
from feedloop.common.kafka import Emitter, Record, create_consumer, create_producer
from feedloop.common.logs import JsonFormatter, correlation_id_var
from feedloop.common.settings import ConsumerSettings

from tests.consumers.test_batch_consumer import settings_for
from tests.support.kafka import read_topic
from tests.support.polling import eventually


class Lines(logging.Handler):
    """Formats each log record as the service would, at the moment it is logged."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter("test"))
        self.lines: list[dict[str, object]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(orjson.loads(self.format(record)))


@pytest.fixture
def log_lines() -> Iterator[Lines]:
    handler = Lines()
    root = logging.getLogger()
    root.addHandler(handler)
    level, root.level = root.level, logging.DEBUG
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    created = create_producer(ConsumerSettings(kafka_bootstrap_servers=kafka_bootstrap))
    await created.start()
    yield created
    await created.stop()


class Echo:
    """Sends each record on to `out`, without a correlation header of its own (unless `own`),
    and logs it; fails on b"boom"."""

    def __init__(self, out: str) -> None:
        self.out = out
        self.seen: list[tuple[bytes, str | None]] = []

    async def __call__(self, records: Sequence[Record], emitter: Emitter) -> None:
        if any(r.value == b"boom" for r in records):
            raise ValueError("cannot handle boom")
        for r in records:
            value = r.value or b""
            own = [(topics.HEADER_CORRELATION_ID, b"its-own")] if value == b"own" else []
            logging.getLogger("test.echo").info("echoing %s", value.decode())
            await emitter.send(OutgoingRecord(self.out, None, value, own))
            self.seen.append((value, correlation_id_var.get()))


async def _consume(
    bootstrap: str, prefix: str, producer: AIOKafkaProducer, handler: Echo, topic: str
) -> None:
    settings = settings_for(bootstrap, prefix)
    consumer = BatchConsumer(
        consumer=create_consumer(settings),
        topics_in=[topic],
        handler=handler,
        service="test",
        group_id=settings.consumer_group,
        producer=producer,
    )
    await consumer.start()
    try:
        await eventually(lambda: len(handler.seen) >= 3)
    finally:
        await consumer.stop()


async def test_a_records_correlation_id_reaches_the_logs_and_the_records_it_produces(
    kafka_bootstrap: str,
    topic_prefix: str,
    raw_producer: AIOKafkaProducer,
    producer: AIOKafkaProducer,
    log_lines: Lines,
) -> None:
    topic, out = topic_prefix + topics.PRIORITIZED, topic_prefix + topics.CLOSED
    request = [(topics.HEADER_CORRELATION_ID, b"req-42"), (topics.HEADER_ID, b"evt-1")]
    for value in (b"a", b"b", b"own"):
        await raw_producer.send_and_wait(topic, value, partition=0, headers=request)
    handler = Echo(out)
    await _consume(kafka_bootstrap, topic_prefix, producer, handler, topic)

    assert handler.seen == [(b"a", "req-42"), (b"b", "req-42"), (b"own", "req-42")]
    produced = await read_topic(kafka_bootstrap, out, until=lambda rs: len(rs) >= 3)
    assert {(r.value, header(r.headers, topics.HEADER_CORRELATION_ID)) for r in produced} == {
        (b"a", "req-42"),
        (b"b", "req-42"),
        (b"own", "its-own"),  # a record that names its correlation keeps it
    }
    echoed = [line for line in log_lines.lines if line["logger"] == "test.echo"]
    assert len(echoed) == 3 and {line.get("correlation_id") for line in echoed} == {"req-42"}


async def test_a_dead_lettered_record_is_logged_and_sent_under_its_own_event_id(
    kafka_bootstrap: str,
    topic_prefix: str,
    raw_producer: AIOKafkaProducer,
    producer: AIOKafkaProducer,
    log_lines: Lines,
) -> None:
    """Mixed ids in one batch: a poison record without a correlation header is halved out and
    dead-lettered under its event id. A batch of several ids runs under none (each record's id
    is listed in the log line instead); a record handled alone runs under its own."""
    topic, out = topic_prefix + topics.PRIORITIZED, topic_prefix + topics.CLOSED
    for n, value in enumerate((b"x", b"boom", b"y", b"z")):
        headers = [(topics.HEADER_ID, f"evt-{value.decode()}".encode())]
        if value != b"boom":
            headers.append((topics.HEADER_CORRELATION_ID, f"req-{n}".encode()))
        await raw_producer.send_and_wait(topic, value, partition=1, headers=headers)
    handler = Echo(out)
    await _consume(kafka_bootstrap, topic_prefix, producer, handler, topic)

    own = {b"x": "req-0", b"y": "req-2", b"z": "req-3"}
    assert sorted(value for value, _ in handler.seen) == [b"x", b"y", b"z"]
    assert all(cid in (own[value], None) for value, cid in handler.seen), handler.seen
    assert ("x", "req-0") in {(v.decode(), cid) for v, cid in handler.seen}, "halved out alone"
    listed = [line["correlation_ids"] for line in log_lines.lines if "correlation_ids" in line]
    assert ["req-0", "evt-boom", "req-2", "req-3"] in listed, "the first batch names all four"
    (dead,) = await read_topic(kafka_bootstrap, topics.dlq_topic(topic), until=bool)
    assert header(dead.headers, topics.HEADER_CORRELATION_ID) == "evt-boom"
    dead_lines = [line for line in log_lines.lines if "dead-lettering" in str(line["msg"])]
    assert [line.get("correlation_id") for line in dead_lines] == ["evt-boom"]
    halving = [line for line in log_lines.lines if "retrying its halves" in str(line["msg"])]
    assert halving and "evt-boom" in halving[0]["correlation_ids"]  # type: ignore[operator]


def test_a_record_without_headers_is_correlated_by_its_position() -> None:
    class Bare:
        topic, partition, offset, headers = "t", 2, 7, None

    assert correlation_of(Bare()) == "t/2/7"
