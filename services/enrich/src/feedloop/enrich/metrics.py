"""Prometheus metrics of the enrich stage (the shared ones live in feedloop.common.metrics)."""

from prometheus_client import Counter, Histogram

INFERENCE_SECONDS = Histogram(
    "feedloop_enrich_inference_seconds",
    "Time of one forward pass of a model over a sub-batch of segments.",
    ["model"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
ITEMS = Counter(
    "feedloop_enrich_items_total",
    "Feedback items analysed, by where they came from (kafka, api).",
    ["source"],
)
SEGMENTS = Counter(
    "feedloop_enrich_segments_total",
    "Sentences (segments) run through the models.",
    ["source"],
)
PII_REDACTIONS = Counter(
    "feedloop_enrich_pii_redactions_total",
    "PII values replaced by a placeholder, by kind.",
    ["kind"],
)
THEMES = Counter(
    "feedloop_enrich_themes_total",
    "Theme matches attached to items, by theme.",
    ["theme"],
)
REPROCESSED = Counter(
    "feedloop_enrich_reprocessed_total",
    "Records of enriched the reprocess command read, by outcome (reprocessed, current, "
    "already, unreadable, failed, would_reprocess).",
    ["outcome"],
)
