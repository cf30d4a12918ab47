"""Kafka in the manifests: SCRAM over TLS, one KafkaUser per service, ACLs on its own topics."""

from typing import Any

from feedloop.common import topics

STAGES = ("ingest", "enrich", "prioritize", "notify", "solicit")
# What each service may touch, from the code's own names: (topic, operation) and groups.
DLQS = {topics.dlq_topic(t) for t in (topics.RAW_FEEDBACK, topics.ENRICHED, topics.PRIORITIZED)}
READS = {
    # the idempotency warm-up and erasure requests, no group
    "ingest": {topics.RAW_FEEDBACK, topics.CUSTOMER_REQUESTS},
    "enrich": {topics.RAW_FEEDBACK},
    "prioritize": {topics.ENRICHED, topics.CLOSED, topics.CUSTOMER_REQUESTS},
    # erasure: dead-letter partitions are read and rewritten without the customer
    "notify": {
        topics.PRIORITIZED,
        topics.RAW_FEEDBACK,
        topics.CUSTOMER_REQUESTS,
        topics.NOTIFICATIONS_DLQ,
        topics.dlq_topic(topics.TOUCHPOINTS),  # rewritten without an erased customer
        topics.ALERTS,  # KPI alerts to staff (no customer data: its dead letters need no rewrite)
    }
    | DLQS,
    # erasure requests; raw-feedback's tail when its outbox relay resumes (reconcile); touchpoints
    "solicit": {topics.CUSTOMER_REQUESTS, topics.RAW_FEEDBACK, topics.TOUCHPOINTS},
}
WRITES = {
    "ingest": {topics.RAW_FEEDBACK, topics.CUSTOMER_REQUESTS},
    "enrich": {topics.ENRICHED, topics.dlq_topic(topics.RAW_FEEDBACK)},
    "prioritize": {
        topics.PRIORITIZED,
        topics.dlq_topic(topics.ENRICHED),
        topics.CUSTOMER_REQUESTS,
        topics.AUDIT,
        topics.ALERTS,
    },
    "notify": {
        topics.CLOSED,
        topics.NOTIFICATIONS_DLQ,
        topics.CUSTOMER_REQUESTS,
        topics.AUDIT,
        topics.dlq_topic(topics.TOUCHPOINTS),
        topics.dlq_topic(topics.ALERTS),
    }
    | DLQS,
    "solicit": {
        topics.RAW_FEEDBACK,
        topics.CUSTOMER_REQUESTS,
        topics.dlq_topic(topics.TOUCHPOINTS),
    },
}
GROUPS = {
    "ingest": set(),
    "enrich": {topics.CONSUMER_GROUP_ENRICH},
    "prioritize": {
        topics.CONSUMER_GROUP_PRIORITIZE,
        topics.CONSUMER_GROUP_PRIORITIZE_CLOSED,
        topics.CONSUMER_GROUP_PRIORITIZE_RIGHTS,
    },
    "notify": {
        topics.CONSUMER_GROUP_NOTIFY,
        topics.CONSUMER_GROUP_NOTIFY_RIGHTS,
        topics.CONSUMER_GROUP_NOTIFY_CONTACTS,
        topics.CONSUMER_GROUP_NOTIFY_ALERTS,
    },
    # its main group (touchpoints) and rights_group(SolicitSettings().consumer_group)
    "solicit": {topics.CONSUMER_GROUP_SOLICIT, "feedloop-solicit-rights"},
}


def acl_grants(user: dict[str, Any], kind: str, operation: str) -> set[str]:
    """Names of the resources of a kind on which the user's ACLs allow an operation."""
    return {
        acl["resource"]["name"]
        for acl in user["spec"]["authorization"]["acls"]
        if acl["resource"]["type"] == kind and operation in acl["operations"]
    }


def test_the_listener_demands_scram_over_tls_and_acls_are_enforced(rendered: Any) -> None:
    (kafka,) = rendered.of_kind("Kafka")
    spec = kafka["spec"]["kafka"]
    for listener in spec["listeners"]:
        assert listener["tls"] is True, listener["name"]
        assert listener["authentication"] == {"type": "scram-sha-512"}, listener["name"]
    assert spec["authorization"]["type"] == "simple"
    assert "userOperator" in kafka["spec"]["entityOperator"]


def test_each_service_reads_and_writes_only_its_own_topics_and_groups(rendered: Any) -> None:
    for stage in STAGES:
        user = rendered.get("KafkaUser", f"feedloop-{stage}")
        assert user["spec"]["authentication"] == {"type": "scram-sha-512"}
        assert acl_grants(user, "topic", "Read") == READS[stage], stage
        assert acl_grants(user, "topic", "Write") == WRITES[stage], stage
        assert acl_grants(user, "group", "Read") == GROUPS[stage], stage
        for acl in user["spec"]["authorization"]["acls"]:
            assert acl["resource"]["name"] != "*", f"{stage} has a wildcard ACL"
            assert "All" not in acl["operations"], stage


def test_each_service_logs_in_as_its_own_user_over_tls(rendered: Any) -> None:
    for stage in STAGES:
        config = rendered.generated("ConfigMap", f"{stage}-config")["data"]
        prefix = f"FEEDLOOP_{stage.upper()}_KAFKA_"
        assert config[prefix + "SECURITY_PROTOCOL"] == "SASL_SSL"
        assert config[prefix + "SASL_MECHANISM"] == "SCRAM-SHA-512"
        assert config[prefix + "SASL_USERNAME"] == f"feedloop-{stage}"
        pod = rendered.get("Deployment", stage)["spec"]["template"]["spec"]
        (main,) = [c for c in pod["containers"] if c["name"] == stage]
        (password,) = [e for e in main["env"] if e["name"] == prefix + "SASL_PASSWORD"]
        assert password["valueFrom"]["secretKeyRef"] == {
            "name": f"feedloop-{stage}",
            "key": "password",
        }
        mounts = {m["mountPath"]: m["name"] for m in main["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        ca_dir = config[prefix + "SSL_CAFILE"].rsplit("/", 1)[0]
        assert volumes[mounts[ca_dir]]["secret"]["secretName"] == "feedloop-cluster-ca-cert"


def test_keda_scales_on_lag_read_with_the_stages_own_credentials(rendered: Any) -> None:
    auths = {a["metadata"]["name"]: a["spec"] for a in rendered.of_kind("TriggerAuthentication")}
    for scaled in rendered.of_kind("ScaledObject"):
        stage = scaled["metadata"]["name"]
        for trigger in scaled["spec"]["triggers"]:
            assert (trigger["metadata"]["sasl"], trigger["metadata"]["tls"]) == (
                "scram_sha512",
                "enable",
            )
            auth = auths[trigger["authenticationRef"]["name"]]
            secrets = {r["parameter"]: r["name"] for r in auth["secretTargetRef"]}
            assert secrets == {"password": f"feedloop-{stage}", "ca": "feedloop-cluster-ca-cert"}
