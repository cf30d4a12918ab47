"""Each stage scales on its own: on the consumer group the code uses, within the partitions."""

import re
from types import ModuleType
from typing import Any

# Stage -> the (consumer group, topic) pairs it reads, as names of feedloop.common.topics.
CONSUMED = {
    "enrich": [("CONSUMER_GROUP_ENRICH", "RAW_FEEDBACK")],
    "prioritize": [
        ("CONSUMER_GROUP_PRIORITIZE", "ENRICHED"),
        ("CONSUMER_GROUP_PRIORITIZE_CLOSED", "CLOSED"),
    ],
    "notify": [("CONSUMER_GROUP_NOTIFY", "PRIORITIZED")],
}
# Overlay -> (partitions, replicas, min.insync.replicas) of every topic.
TOPIC_SHAPE = {"dev": (6, 1, 1), "prod": (12, 3, 2)}


def kafka_triggers(scaled_object: dict[str, Any]) -> list[dict[str, str]]:
    """Returns the kafka triggers' metadata of a ScaledObject."""
    return [t["metadata"] for t in scaled_object["spec"]["triggers"] if t["type"] == "kafka"]


def partitions_by_topic(rendered: Any) -> dict[str, int]:
    """Maps each Kafka topic name to its partitions in this overlay."""
    return {
        t["spec"].get("topicName", t["metadata"]["name"]): t["spec"]["partitions"]
        for t in rendered.of_kind("KafkaTopic")
    }


def test_every_consumer_stage_has_one_scaled_object_on_its_deployment(rendered: Any) -> None:
    targets = sorted(s["spec"]["scaleTargetRef"]["name"] for s in rendered.of_kind("ScaledObject"))
    assert targets == sorted(CONSUMED)
    for scaled in rendered.of_kind("ScaledObject"):
        ref = scaled["spec"]["scaleTargetRef"]
        assert ref.get("kind", "Deployment") == "Deployment"
        rendered.get("Deployment", ref["name"])


def test_scaled_objects_name_the_consumer_groups_of_the_code(
    rendered: Any, topics: ModuleType, settings_groups: dict[str, set[str]]
) -> None:
    for stage, pairs in CONSUMED.items():
        triggers = kafka_triggers(rendered.get("ScaledObject", stage))
        expected = [(getattr(topics, group), getattr(topics, topic)) for group, topic in pairs]
        assert [(t["consumerGroup"], t["topic"]) for t in triggers] == expected, stage
        if stage in settings_groups:
            # Every group the service's settings define is one KEDA scales on, and no other.
            assert {t["consumerGroup"] for t in triggers} == settings_groups[stage], stage


def test_scaled_objects_never_exceed_the_partitions_of_their_topic(rendered: Any) -> None:
    partitions = partitions_by_topic(rendered)
    for scaled in rendered.of_kind("ScaledObject"):
        spec, name = scaled["spec"], scaled["metadata"]["name"]
        for trigger in kafka_triggers(scaled):
            assert trigger["topic"] in partitions, f"{name}: no KafkaTopic {trigger['topic']}"
            assert spec["maxReplicaCount"] <= partitions[trigger["topic"]], name
        assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"], name
        assert spec["fallback"]["replicas"] <= spec["maxReplicaCount"], name


def test_keda_reads_the_kafka_the_services_use_by_its_full_name(rendered: Any) -> None:
    # KEDA's operator runs in its own namespace: a short service name would not resolve there.
    bootstrap = rendered.generated("ConfigMap", "feedloop-kafka")["data"]["bootstrap-servers"]
    assert re.fullmatch(
        rf"feedloop-kafka-bootstrap\.{rendered.namespace}\.svc(\.cluster\.local)?:9092", bootstrap
    )
    for scaled in rendered.of_kind("ScaledObject"):
        for trigger in kafka_triggers(scaled):
            assert trigger["bootstrapServers"] == bootstrap, scaled["metadata"]["name"]


def test_every_topic_of_the_code_exists_with_the_overlay_shape(
    rendered: Any, topics: ModuleType
) -> None:
    partitions, replicas, min_isr = TOPIC_SHAPE[rendered.overlay]
    by_name = {
        t["spec"].get("topicName", t["metadata"]["name"]): t for t in rendered.of_kind("KafkaTopic")
    }
    assert sorted(by_name) == sorted(topics.ALL_TOPICS)
    for name, topic in by_name.items():
        spec = topic["spec"]
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == "feedloop", name
        assert (spec["partitions"], spec["replicas"]) == (partitions, replicas), name
        assert int(spec["config"]["min.insync.replicas"]) == min_isr, name


def test_brokers_can_host_the_replicas_and_tolerate_one_loss_in_prod(rendered: Any) -> None:
    brokers = sum(
        p["spec"]["replicas"]
        for p in rendered.of_kind("KafkaNodePool")
        if "broker" in p["spec"]["roles"]
    )
    config = rendered.get("Kafka", "feedloop")["spec"]["kafka"]["config"]
    for topic in rendered.of_kind("KafkaTopic"):
        assert topic["spec"]["replicas"] <= brokers
    if rendered.overlay == "prod":
        assert int(config["min.insync.replicas"]) == int(config["default.replication.factor"]) - 1
        assert int(config["transaction.state.log.min.isr"]) == 2


def test_autoscaled_deployments_leave_replicas_to_their_autoscaler(rendered: Any) -> None:
    scaled = {s["spec"]["scaleTargetRef"]["name"] for s in rendered.of_kind("ScaledObject")}
    scaled |= {
        h["spec"]["scaleTargetRef"]["name"] for h in rendered.of_kind("HorizontalPodAutoscaler")
    }
    assert scaled == {d["metadata"]["name"] for d in rendered.of_kind("Deployment")}
    for deployment in rendered.of_kind("Deployment"):
        assert "replicas" not in deployment["spec"], deployment["metadata"]["name"]


def test_ingest_scales_on_cpu(rendered: Any) -> None:
    hpa = rendered.get("HorizontalPodAutoscaler", "ingest")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "ingest",
    }
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]


def test_every_deployment_has_a_disruption_budget_that_selects_only_it(rendered: Any) -> None:
    pods = {
        name: d["spec"]["template"]["metadata"]["labels"]
        for d in rendered.of_kind("Deployment")
        for name in [d["metadata"]["name"]]
    }
    covered = set()
    for pdb in rendered.of_kind("PodDisruptionBudget"):
        selector = pdb["spec"]["selector"]["matchLabels"]
        matched = [n for n, labels in pods.items() if selector.items() <= labels.items()]
        assert len(matched) == 1, f"PDB {pdb['metadata']['name']} selects {matched}"
        # maxUnavailable, so that a single replica never blocks a node drain.
        assert pdb["spec"].get("maxUnavailable") == 1 and "minAvailable" not in pdb["spec"]
        covered.update(matched)
    assert covered == set(pods)
