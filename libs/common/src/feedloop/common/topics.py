"""Topic names, consumer groups and header names: defined here once, used everywhere."""

from typing import Final

RAW_FEEDBACK: Final = "raw-feedback"
ENRICHED: Final = "enriched"
PRIORITIZED: Final = "prioritized"
CLOSED: Final = "closed"
NOTIFICATIONS_DLQ: Final = "notifications.dlq"
# Data-rights requests and their confirmations (feedloop.common.rights): compacted, keyed by
# customer id (requests) and customer id/service (confirmations).
CUSTOMER_REQUESTS: Final = "customer-requests"
# Administrative actions of every service (feedloop.common.audit), keyed by their target.
AUDIT: Final = "audit"
# KPI alerts of prioritize (spikes, weekly digests) that notify delivers to staff subscribers.
# Counts, themes and ids only: no customer data, nothing to erase (7 days' retention).
ALERTS: Final = "alerts"
# Moments worth asking a customer about (touchpoint.reported), produced by the company's
# systems, read by solicit; keyed by customer id, 7 days' retention (docs/solicit.md).
TOUCHPOINTS: Final = "touchpoints"

PIPELINE_TOPICS: Final = (RAW_FEEDBACK, ENRICHED, PRIORITIZED, CLOSED)


def dlq_topic(topic: str) -> str:
    """Returns the dead-letter topic of a source topic."""
    return f"{topic}.dlq"


DLQ_TOPICS: Final = (
    dlq_topic(RAW_FEEDBACK),
    dlq_topic(ENRICHED),
    dlq_topic(PRIORITIZED),
    NOTIFICATIONS_DLQ,
    dlq_topic(ALERTS),
    dlq_topic(TOUCHPOINTS),
)
RIGHTS_TOPICS: Final = (CUSTOMER_REQUESTS, AUDIT)
ALL_TOPICS: Final = PIPELINE_TOPICS + DLQ_TOPICS + RIGHTS_TOPICS + (ALERTS, TOUCHPOINTS)
TOPIC_CONFIGS: Final = {CUSTOMER_REQUESTS: {"cleanup.policy": "compact"}}
"""Topic configs that differ from the broker's defaults (set when a topic is created)."""

CONSUMER_GROUP_ENRICH: Final = "feedloop-enrich"
CONSUMER_GROUP_PRIORITIZE: Final = "feedloop-prioritize"
CONSUMER_GROUP_NOTIFY: Final = "feedloop-notify"
# Notify also reads `closed`-independent state from `prioritized` only; prioritize reads
# `closed` in a second group to compute closure KPIs.
CONSUMER_GROUP_PRIORITIZE_CLOSED: Final = "feedloop-prioritize-closed"
# Every stage reads `customer-requests` in a group of its own (ingest reads it without one:
# each replica holds its own idempotency store, so each must see every request).
CONSUMER_GROUP_PRIORITIZE_RIGHTS: Final = "feedloop-prioritize-rights"
CONSUMER_GROUP_NOTIFY_RIGHTS: Final = "feedloop-notify-rights"
# notify reads customers' e-mail addresses from raw-feedback, the only topic carrying them.
CONSUMER_GROUP_NOTIFY_CONTACTS: Final = "feedloop-notify-contacts"
# notify reads prioritize's KPI alerts (spikes, weekly digests) for staff subscribers.
CONSUMER_GROUP_NOTIFY_ALERTS: Final = "feedloop-notify-alerts"
CONSUMER_GROUP_SOLICIT: Final = "feedloop-solicit"

# CloudEvents Kafka protocol binding (binary mode): attributes travel as ce_-prefixed headers.
HEADER_ID: Final = "ce_id"
HEADER_TYPE: Final = "ce_type"
HEADER_SOURCE: Final = "ce_source"
HEADER_TIME: Final = "ce_time"
HEADER_SPECVERSION: Final = "ce_specversion"
HEADER_SCHEMA_VERSION: Final = "ce_schemaversion"
HEADER_CORRELATION_ID: Final = "ce_correlationid"
HEADER_CONTENT_TYPE: Final = "content-type"

# Dead-letter headers, added to the original record's headers.
HEADER_DLQ_REASON: Final = "dlq_reason"
HEADER_DLQ_ERROR: Final = "dlq_error"
HEADER_DLQ_SOURCE_TOPIC: Final = "dlq_source_topic"
HEADER_DLQ_SOURCE_PARTITION: Final = "dlq_source_partition"
HEADER_DLQ_SOURCE_OFFSET: Final = "dlq_source_offset"
HEADER_DLQ_CONSUMER_GROUP: Final = "dlq_consumer_group"
HEADER_DLQ_FAILED_AT: Final = "dlq_failed_at"
HEADER_DLQ_REPLAY_COUNT: Final = "dlq_replay_count"
# Set only when the value was cut to fit the broker: its original size in bytes.
HEADER_DLQ_VALUE_TRUNCATED: Final = "dlq_value_truncated"
