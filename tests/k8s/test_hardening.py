"""The pods run hardened, probed, sized and wired to settings and secrets that exist."""

import base64
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RUNBOOK = ROOT / "docs" / "runbook.md"
PORTS = {
    "ingest": 8001,
    "enrich": 8002,
    "prioritize": 8003,
    "notify": 8004,
    "console": 8005,
    "solicit": 8006,
}
WITH_DATABASE = ("prioritize", "notify", "solicit")


def containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    """Returns every container of a pod spec, init containers included."""
    found: list[dict[str, Any]] = pod.get("initContainers", []) + pod["containers"]
    return found


def env_names(container: dict[str, Any]) -> set[str]:
    """Returns the names of the container's explicit environment variables."""
    return {e["name"] for e in container.get("env", [])}


def test_pods_run_as_non_root_without_privileges(rendered: Any) -> None:
    for name, pod in rendered.pod_specs():
        ctx = pod["securityContext"]
        assert ctx["runAsNonRoot"] is True and ctx["runAsUser"] == 10001, name
        assert ctx["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert pod["automountServiceAccountToken"] is False, name
        assert pod["serviceAccountName"] == name
        for c in containers(pod):
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, (name, c["name"])
            assert sc["readOnlyRootFilesystem"] is True, (name, c["name"])
            assert sc["capabilities"] == {"drop": ["ALL"]}, (name, c["name"])
            assert {"mountPath": "/tmp", "name": "tmp"} in c["volumeMounts"], (name, c["name"])
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(c["resources"][kind]), (name, c["name"], kind)
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert "emptyDir" in volumes["tmp"], name


def test_service_accounts_carry_no_token(rendered: Any) -> None:
    for sa in rendered.of_kind("ServiceAccount"):
        assert sa["automountServiceAccountToken"] is False


def test_each_service_listens_on_its_port_and_is_probed(rendered: Any) -> None:
    for name, pod in rendered.pod_specs():
        (main,) = [c for c in pod["containers"] if c["name"] == name]
        # /metrics listens apart from the API, on the API port + 1000 (the settings' default).
        assert main["ports"] == [
            {"name": "http", "containerPort": PORTS[name], "protocol": "TCP"},
            {"name": "metrics", "containerPort": PORTS[name] + 1000, "protocol": "TCP"},
        ]
        assert main["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert main["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        assert main["startupProbe"]["httpGet"]["path"] == "/healthz"
        assert pod["terminationGracePeriodSeconds"] >= 60, name
        config = rendered.generated("ConfigMap", f"{name}-config")["data"]
        prefix = f"FEEDLOOP_{name.upper()}_"
        assert config[prefix + "PORT"] == str(PORTS[name])
        assert config[prefix + "HOST"] == "0.0.0.0"
        assert config[prefix + "ENVIRONMENT"] == rendered.overlay
        if name != "console":  # the console talks to the APIs only, never to Kafka
            assert prefix + "KAFKA_BOOTSTRAP_SERVERS" in env_names(main)
        service = rendered.get("Service", name)
        assert service["spec"]["selector"].items() <= pod_labels(rendered, name).items()
        assert [(p["name"], p["port"], p["targetPort"]) for p in service["spec"]["ports"]] == [
            ("http", PORTS[name], "http"),
            ("metrics", PORTS[name] + 1000, "metrics"),
        ]


def pod_labels(rendered: Any, name: str) -> dict[str, str]:
    """Returns the pod template labels of a Deployment."""
    labels: dict[str, str] = rendered.get("Deployment", name)["spec"]["template"]["metadata"][
        "labels"
    ]
    return labels


def test_enrich_runs_one_blas_thread_and_scales_by_replicas(rendered: Any) -> None:
    # A second OpenBLAS thread spins while it waits: 2.7-4x the CPU per item (bench-enrich).
    pod = rendered.get("Deployment", "enrich")["spec"]["template"]["spec"]
    (main,) = pod["containers"]
    (threads,) = [e for e in main["env"] if e["name"] == "FEEDLOOP_ENRICH_INTRA_OP_THREADS"]
    assert threads["value"] == "1"
    assert re.fullmatch(r"[1-9][0-9]*", str(main["resources"]["limits"]["cpu"])), "whole cores"
    assert main["resources"]["limits"]["memory"] in ("1536Mi", "2Gi")


def test_stateful_stages_migrate_their_database_before_starting(rendered: Any) -> None:
    for name in WITH_DATABASE:
        pod = rendered.get("Deployment", name)["spec"]["template"]["spec"]
        (migrate,) = pod["initContainers"]
        (main,) = pod["containers"]
        assert migrate["command"] == [f"feedloop-{name}-migrate"]
        assert migrate["image"] == main["image"]
        url_var = f"FEEDLOOP_{name.upper()}_DATABASE_URL"
        for c in (migrate, main):
            (url,) = [e["value"] for e in c["env"] if e["name"] == url_var]
            assert url.startswith("postgresql+asyncpg://") and url.endswith(f"/{name}")
            assert c["envFrom"] == main["envFrom"], "the migration sees the service's settings"


def referenced(pod: dict[str, Any], kind: str) -> set[str]:
    """Returns the ConfigMap or Secret names a pod spec reads."""
    ref_key, env_key = (
        ("configMapRef", "configMapKeyRef")
        if kind == "ConfigMap"
        else ("secretRef", "secretKeyRef")
    )
    names = set()
    for c in containers(pod):
        names |= {src[ref_key]["name"] for src in c.get("envFrom", []) if ref_key in src}
        names |= {
            e["valueFrom"][env_key]["name"]
            for e in c.get("env", [])
            if env_key in e.get("valueFrom", {})
        }
    return names


def test_every_configmap_a_pod_reads_is_rendered(rendered: Any) -> None:
    present = {c["metadata"]["name"] for c in rendered.of_kind("ConfigMap")}
    for name, pod in rendered.pod_specs():
        assert referenced(pod, "ConfigMap") <= present, name


def test_dev_renders_every_secret_it_reads_and_only_obvious_dev_values(rendered_all: Any) -> None:
    dev = rendered_all["dev"]
    present = {s["metadata"]["name"] for s in dev.of_kind("Secret")} | operator_secrets(dev)
    for name, pod in dev.pod_specs():
        assert referenced(pod, "Secret") <= present, name
    for secret in dev.of_kind("Secret"):
        values = secret_data(secret).values()
        assert any("dev" in value for value in values), secret["metadata"]["name"]


def operator_secrets(rendered: Any) -> set[str]:
    """Secrets Strimzi makes from what the overlay renders: users' passwords, the cluster CA."""
    users = {u["metadata"]["name"] for u in rendered.of_kind("KafkaUser")}
    return users | {f"{k['metadata']['name']}-cluster-ca-cert" for k in rendered.of_kind("Kafka")}


def secret_data(secret: dict[str, Any]) -> dict[str, str]:
    """Returns a Secret's data decoded as text."""
    data = {k: base64.b64decode(v).decode() for k, v in secret.get("data", {}).items()}
    plain: dict[str, str] = secret.get("stringData", {})
    return data | plain


def test_dev_api_keys_parse_as_the_services_read_them_and_are_not_the_local_key(
    rendered_all: Any,
) -> None:
    from feedloop.common.auth import DEV_API_KEY_SHA256, load_clients

    for name in ("ingest", "prioritize"):
        secret = rendered_all["dev"].generated("Secret", f"{name}-secrets")
        clients = load_clients(secret_data(secret)[f"FEEDLOOP_{name.upper()}_API_KEYS"], None)
        assert clients, name
        assert all(c.key_sha256 != DEV_API_KEY_SHA256 for c in clients), name


def test_prod_commits_no_secret_and_the_runbook_lists_each_one_to_create(rendered_all: Any) -> None:
    prod = rendered_all["prod"]
    assert prod.of_kind("Secret") == [], "prod secrets come from outside the repository"
    runbook = RUNBOOK.read_text()
    needed = set()
    for _, pod in prod.pod_specs():
        needed |= referenced(pod, "Secret")
    cluster = prod.get("Cluster", "feedloop-pg")["spec"]
    needed.add(cluster["bootstrap"]["initdb"]["secret"]["name"])
    needed |= {r["passwordSecret"]["name"] for r in cluster["managed"]["roles"]}
    missing = sorted(n for n in needed if f"`{n}`" not in runbook)
    assert not missing, f"docs/runbook.md does not say how to create {missing}"


def test_prod_images_are_pinned_to_a_release(rendered_all: Any) -> None:
    for _, pod in rendered_all["prod"].pod_specs():
        for c in containers(pod):
            image = c["image"]
            assert "@sha256:" in image or re.search(r":[0-9]+\.[0-9]+\.[0-9]+$", image), image
