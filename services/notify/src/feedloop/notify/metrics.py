"""Notify's own Prometheus metrics: deliveries by channel and what became of them, queue depth."""

from feedloop.common.metrics import LATENCY_BUCKETS
from prometheus_client import Counter, Gauge, Histogram

SENT = Counter(
    "feedloop_notify_sent_total",
    "Notifications delivered, by channel and kind.",
    ["channel", "kind"],
)
FAILED = Counter(
    "feedloop_notify_failed_total",
    "Notifications that failed for good (and went to notifications.dlq), by channel.",
    ["channel"],
)
RETRIED = Counter(
    "feedloop_notify_retried_total",
    "Attempts that failed and were scheduled again, by channel.",
    ["channel"],
)
SUPPRESSED = Counter(
    "feedloop_notify_suppressed_total",
    "Notifications not sent, by outcome (opted_out, erased, capped, no_channel, superseded).",
    ["outcome"],
)
STALE = Counter(
    "feedloop_notify_stale_results_total",
    "Attempt results dropped because the lease had passed to another attempt.",
)
ATTEMPT_SECONDS = Histogram(
    "feedloop_notify_delivery_seconds",
    "Duration of one delivery attempt (HTTP call or SMTP session), by channel.",
    ["channel"],
    buckets=LATENCY_BUCKETS,
)
TIME_TO_DELIVER = Histogram(
    "feedloop_notify_time_to_deliver_seconds",
    "From a notification being owed to it being delivered, by channel.",
    ["channel"],
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400, 86400),
)
QUEUE_DEPTH = Gauge(
    "feedloop_notify_queue_depth",
    "Deliveries waiting to be sent or being sent.",
)
