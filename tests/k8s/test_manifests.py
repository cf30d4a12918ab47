"""Every overlay of deploy/k8s renders, and every resource it renders is schema-valid.

What is validated, without a cluster or the network:
- Built-in kinds (Deployment, Service, HPA, PDB, NetworkPolicy, ...) against the Kubernetes
  OpenAPI schemas shipped by kubernetes-validate, strictly (unknown fields fail), for the oldest
  Kubernetes we support and for the newest the package knows.
- Custom resources (Strimzi Kafka, KafkaNodePool, KafkaTopic; KEDA ScaledObject; CloudNativePG
  Cluster, Database; prometheus-operator ServiceMonitor, PodMonitor, PrometheusRule) against
  hand-written, closed JSON Schemas of the fields we use (crd-schemas.yaml): types, enums,
  required fields, misspelt or unknown fields.
- Alert and dashboard queries parse as PromQL (promql-parser, the Rust parser's bindings).
- The cross-checks in the sibling modules: consumer groups and partitions (test_scaling),
  hardening (test_hardening), alerts, runbook and dashboard (test_observability).

What cannot be validated here:
- The operators' full CRD schemas and their admission webhooks (CEL rules, defaults, version
  support: e.g. whether Strimzi accepts Kafka 4.1.1), nor whether their controllers reconcile.
- Anything that needs a running cluster: scheduling, PVC binding, NetworkPolicy enforcement
  (it depends on the CNI), DNS names resolving, images existing, KEDA reaching Kafka.
- The semantics of a query against real series: a query that parses may still select nothing.
"""

from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import promql_parser
import pytest
import yaml

SCHEMAS = Path(__file__).with_name("crd-schemas.yaml")
# The oldest Kubernetes the operators we use support (CloudNativePG 1.27: 1.30), the newest known.
KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())


@cache
def crd_validators() -> dict[str, jsonschema.Draft202012Validator]:
    """One validator per "apiVersion/kind" of crd-schemas.yaml."""
    doc = yaml.safe_load(SCHEMAS.read_text())
    defs = doc.pop("$defs")
    validators = {}
    for key, schema in doc.items():
        full = {**schema, "$defs": defs}
        jsonschema.Draft202012Validator.check_schema(full)
        validators[key] = jsonschema.Draft202012Validator(full)
    return validators


def resource_id(resource: dict[str, Any]) -> str:
    """Returns "apiVersion/kind name" for messages."""
    return f"{resource['apiVersion']}/{resource['kind']} {resource['metadata']['name']}"


def test_every_overlay_renders_and_declares_its_namespace(rendered: Any) -> None:
    assert rendered.resources
    for resource in rendered.resources:
        if resource["kind"] != "Namespace":
            assert resource["metadata"].get("namespace") == rendered.namespace, resource_id(
                resource
            )


def test_resource_names_are_unique_per_kind(rendered: Any) -> None:
    seen = [(r["kind"], r["metadata"]["name"]) for r in rendered.resources]
    assert len(seen) == len(set(seen))


def test_builtin_resources_match_the_kubernetes_schemas(rendered: Any) -> None:
    custom = crd_validators()
    errors = []
    for resource in rendered.resources:
        if f"{resource['apiVersion']}/{resource['kind']}" in custom:
            continue
        for version in KUBERNETES_VERSIONS:
            try:
                kubernetes_validate.validate(resource, version, strict=True)
            except kubernetes_validate.SchemaNotFoundError:
                errors.append(f"{resource_id(resource)}: no schema in Kubernetes {version}")
            except kubernetes_validate.ValidationError as e:
                path = "/".join(str(p) for p in e.path)
                errors.append(f"{resource_id(resource)} (k8s {version}) at {path}: {e.message}")
    assert not errors, "\n".join(errors)


def test_custom_resources_match_the_schemas_of_the_fields_we_use(rendered: Any) -> None:
    validators = crd_validators()
    errors = []
    for resource in rendered.resources:
        validator = validators.get(f"{resource['apiVersion']}/{resource['kind']}")
        if validator is None:
            continue
        for e in validator.iter_errors(resource):
            path = "/".join(str(p) for p in e.absolute_path)
            errors.append(f"{resource_id(resource)} at {path}: {e.message}")
    assert not errors, "\n".join(errors)


def test_each_custom_kind_of_crd_schemas_is_used(rendered_all: Any) -> None:
    used = {f"{r['apiVersion']}/{r['kind']}" for o in rendered_all.values() for r in o.resources}
    assert set(crd_validators()) <= used, "a schema for a kind no overlay renders: drop it"


def test_alert_expressions_parse_as_promql(rendered: Any) -> None:
    for rule_set in rendered.of_kind("PrometheusRule"):
        for group in rule_set["spec"]["groups"]:
            for rule in group["rules"]:
                try:
                    promql_parser.parse(rule["expr"])
                except ValueError as e:
                    pytest.fail(f"{rule.get('alert', rule.get('record'))}: {e}")


def test_kubernetes_validate_rejects_a_misspelt_field() -> None:
    broken = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "x"},
        "spec": {"ports": [{"port": 80, "targetPortt": "http"}]},
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[0], strict=True)


def test_crd_schemas_reject_an_unquoted_keda_threshold() -> None:
    trigger = {
        "type": "kafka",
        "metadata": {
            "bootstrapServers": "k:9092",
            "consumerGroup": "g",
            "topic": "t",
            "lagThreshold": 10,
        },
    }
    scaled = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": "x"},
        "spec": {"scaleTargetRef": {"name": "x"}, "triggers": [trigger]},
    }
    assert not crd_validators()["keda.sh/v1alpha1/ScaledObject"].is_valid(scaled)
