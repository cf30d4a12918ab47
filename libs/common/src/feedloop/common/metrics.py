"""Prometheus metrics shared by every service, and the listener and route that expose them."""

from collections.abc import Callable

from fastapi import APIRouter, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_REQUESTS = Counter(
    "feedloop_http_requests_total",
    "HTTP requests handled, by route and status code.",
    ["service", "method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "feedloop_http_request_duration_seconds",
    "HTTP request latency, by route.",
    ["service", "method", "route"],
    buckets=LATENCY_BUCKETS,
)
CONSUMER_RECORDS = Counter(
    "feedloop_consumer_records_total",
    "Records consumed, by outcome (processed, duplicate, dead_lettered).",
    ["service", "topic", "outcome"],
)
CONSUMER_BATCH_SECONDS = Histogram(
    "feedloop_consumer_batch_seconds",
    "Time to process and commit one consumed batch.",
    ["service", "topic"],
    buckets=LATENCY_BUCKETS,
)
CONSUMER_LAG = Gauge(
    "feedloop_consumer_lag",
    "Records behind the partition's high watermark, as this consumer last saw it.",
    ["service", "topic", "partition"],
)
DLQ_RECORDS = Counter(
    "feedloop_dlq_records_total",
    "Records sent to a dead-letter topic, by reason.",
    ["service", "topic", "reason"],
)
PRODUCE_LATENCY = Histogram(
    "feedloop_produce_latency_seconds",
    "Time from send to broker acknowledgement.",
    ["service", "topic"],
    buckets=LATENCY_BUCKETS,
)
EVENT_LATENCY = Histogram(
    "feedloop_event_age_seconds",
    "Age of a consumed event (now minus its occurred_at) when a stage finished it.",
    ["service", "topic"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)


def metrics_router() -> APIRouter:
    """Returns a router serving /metrics in the Prometheus text format."""
    router = APIRouter(tags=["operations"])

    @router.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


def serve_metrics(host: str, port: int) -> Callable[[], None]:
    """Serves /metrics on its own port (a thread); returns the function that stops it.

    Apart from the API port, so scrapes never compete with API clients for the event loop
    and the NetworkPolicy can admit Prometheus to this port alone.
    """
    server, thread = start_http_server(port, addr=host)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return stop
