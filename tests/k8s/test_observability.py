"""Every stage is scraped, every alert has a runbook section, the dashboard shows the loop."""

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import promql_parser
import pytest

ROOT = Path(__file__).resolve().parents[2]
RUNBOOK = ROOT / "docs" / "runbook.md"
DASHBOARD_VARS = {"$__rate_interval": "5m", "$namespace": "feedloop", "${namespace}": "feedloop"}
# Metrics the services export (libs/common metrics.py and each service's own) or that Kafka
# Exporter, kube-state-metrics and Prometheus itself provide. A query naming anything else fails.
KNOWN_METRICS = {
    "feedloop_http_requests_total",
    "feedloop_http_request_duration_seconds",
    "feedloop_consumer_records_total",
    "feedloop_dlq_records_total",
    "feedloop_event_age_seconds",
    "feedloop_ingest_items_total",
    "feedloop_ingest_rejected_total",
    "feedloop_enrich_inference_seconds",
    "kafka_consumergroup_lag",
    "kube_deployment_status_replicas_available",
    "kube_horizontalpodautoscaler_status_current_replicas",
    "kube_horizontalpodautoscaler_spec_max_replicas",
    "up",
}
# What the loop's dashboard must show: throughput, lag, latency, DLQ, model time.
DASHBOARD_MUST_SHOW = {
    "feedloop_consumer_records_total",
    "feedloop_ingest_items_total",
    "kafka_consumergroup_lag",
    "feedloop_http_request_duration_seconds_bucket",
    "feedloop_dlq_records_total",
    "feedloop_enrich_inference_seconds_bucket",
}


def metric_names(expr: str) -> list[str]:
    """Returns the metric names a PromQL expression selects."""
    names = []
    promql_parser.walk(
        promql_parser.parse(expr),
        pre_visit=lambda node: (
            names.append(node.name) if isinstance(node, promql_parser.VectorSelector) else None
        ),
    )
    return names


def base_metric(name: str) -> str:
    """Strips the series suffixes a histogram or summary adds."""
    return re.sub(r"_(bucket|count|sum)$", "", name)


def alerts(rendered: Any) -> Iterator[dict[str, Any]]:
    """Yields every alerting rule of the overlay."""
    for rule_set in rendered.of_kind("PrometheusRule"):
        for group in rule_set["spec"]["groups"]:
            yield from (r for r in group["rules"] if "alert" in r)


def dashboard(rendered: Any) -> dict[str, Any]:
    """Returns the parsed dashboard JSON of the overlay's grafana ConfigMap."""
    (config_map,) = [
        c
        for c in rendered.of_kind("ConfigMap")
        if c["metadata"].get("labels", {}).get("grafana_dashboard") == "1"
    ]
    (text,) = config_map["data"].values()
    board: dict[str, Any] = json.loads(text)
    return board


def dashboard_exprs(board: dict[str, Any]) -> list[str]:
    """Returns every panel query of a dashboard, Grafana variables replaced by sample values."""
    exprs = []
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for var, value in DASHBOARD_VARS.items():
                expr = expr.replace(var, value)
            exprs.append(expr)
    return exprs


def test_the_service_monitor_scrapes_every_service_on_its_metrics_port(rendered: Any) -> None:
    (monitor,) = rendered.of_kind("ServiceMonitor")
    selector = monitor["spec"]["selector"]["matchLabels"]
    services = [
        s
        for s in rendered.of_kind("Service")
        if selector.items() <= s["metadata"]["labels"].items()
    ]
    assert sorted(s["metadata"]["name"] for s in services) == [
        "console",
        "enrich",
        "ingest",
        "notify",
        "prioritize",
        "solicit",
    ]
    (endpoint,) = monitor["spec"]["endpoints"]
    assert (endpoint["port"], endpoint["path"]) == ("metrics", "/metrics")
    # Our series carry a `service` label; the target label of the same name must not rename it.
    assert endpoint["honorLabels"] is True


def test_every_alert_has_a_runbook_section(rendered: Any) -> None:
    headings = set(re.findall(r"^#{2,4} +(\S+)\s*$", RUNBOOK.read_text(), flags=re.MULTILINE))
    missing = sorted({a["alert"] for a in alerts(rendered)} - headings)
    assert not missing, f"docs/runbook.md has no section for {missing}"


def test_every_alert_says_how_bad_what_and_where_to_look(rendered: Any) -> None:
    names = [a["alert"] for a in alerts(rendered)]
    assert len(names) == len(set(names))
    for alert in alerts(rendered):
        assert alert["labels"]["severity"] in ("critical", "warning", "info"), alert["alert"]
        assert alert["annotations"]["summary"], alert["alert"]
        assert alert["annotations"]["runbook_url"] == f"docs/runbook.md#{alert['alert'].lower()}"


@pytest.mark.parametrize(
    ("alert", "metric"),
    [
        ("FeedloopConsumerLagGrowing", "kafka_consumergroup_lag"),
        ("FeedloopDeadLetterRecords", "feedloop_dlq_records_total"),
        ("FeedloopHighErrorRate", "feedloop_http_requests_total"),
        ("FeedloopHighLatencyP99", "feedloop_http_request_duration_seconds_bucket"),
        ("FeedloopIngestBrokerUnavailable", "feedloop_ingest_rejected_total"),
    ],
)
def test_the_loop_alerts_on(rendered: Any, alert: str, metric: str) -> None:
    (rule,) = [a for a in alerts(rendered) if a["alert"] == alert]
    assert metric in metric_names(rule["expr"])


def test_queries_use_only_metrics_that_exist(rendered: Any) -> None:
    exprs = [a["expr"] for a in alerts(rendered)] + dashboard_exprs(dashboard(rendered))
    unknown = {n for e in exprs for n in metric_names(e)} - KNOWN_METRICS
    unknown = {n for n in unknown if base_metric(n) not in KNOWN_METRICS}
    assert not unknown, f"queries select metrics nobody exports: {sorted(unknown)}"


def test_queried_metrics_are_defined_in_code_once_their_family_is() -> None:
    # A family (feedloop_http_*, feedloop_ingest_*, ...) is checked as soon as the code under
    # libs/ or services/ defines any metric of it: a rename in code fails here, not silently
    # in production. Families no code defines yet (a service not written) wait for it.
    defined = set()
    for path in [*ROOT.glob("libs/*/src/**/*.py"), *ROOT.glob("services/*/src/**/*.py")]:
        defined |= set(re.findall(r"[\"'](feedloop_[a-z0-9_]+)[\"']", path.read_text()))
    missing = sorted(
        name
        for name in KNOWN_METRICS
        if name.startswith("feedloop_")
        and name not in defined
        and any(d.startswith(f"feedloop_{name.split('_')[1]}_") for d in defined)
    )
    assert not missing, f"queried but not defined in code: {missing}"


def test_the_dashboard_shows_throughput_lag_latency_dead_letters_and_model_time(
    rendered: Any,
) -> None:
    board = dashboard(rendered)
    exprs = dashboard_exprs(board)
    shown = {n for e in exprs for n in metric_names(e)}
    assert shown >= DASHBOARD_MUST_SHOW, sorted(DASHBOARD_MUST_SHOW - shown)
    assert board["uid"] == "feedloop-loop"
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in board["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
