"""The installed `feedloop` script, usage errors, and health checks."""

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
from feedloop.cli.health import check_service
from feedloop.common import topics

from .conftest import Invoke

SCRIPT = Path(sys.executable).with_name("feedloop")


def test_installed_script_lists_the_commands() -> None:
    result = subprocess.run([SCRIPT, "--help"], capture_output=True, text=True, check=True)
    for command in ("lag", "dlq", "health", "--bootstrap", "--topic-prefix", "--json"):
        assert command in result.stdout


def test_health_reports_down_services_and_the_broker_with_its_topics(
    kafka_bootstrap: str, topic_prefix: str
) -> None:
    down = (
        "--ingest",
        "http://127.0.0.1:1",
        "--enrich",
        "http://127.0.0.1:1",
        "--prioritize",
        "http://127.0.0.1:1",
        "--notify",
        "http://127.0.0.1:1",
    )
    env = os.environ | {
        "FEEDLOOP_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "FEEDLOOP_KAFKA_TOPIC_PREFIX": topic_prefix,
    }
    result = subprocess.run(
        [SCRIPT, "--json", "health", "--timeout", "2", *down],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )

    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    checks = {c["name"]: c for c in report["checks"]}
    assert report["ok"] is False
    assert not checks["ingest"]["ok"]
    assert "unreachable" in checks["ingest"]["detail"]
    assert checks["kafka"]["ok"]
    for topic in topics.ALL_TOPICS:
        assert checks[f"topic {topic}"] == {
            "name": f"topic {topic}",
            "target": topic_prefix + topic,
            "ok": True,
            "detail": "exists",
        }


async def test_readyz_answers_decide_a_service_check() -> None:
    def readyz(request: httpx.Request) -> httpx.Response:
        if request.url.host == "ready":
            return httpx.Response(200, json={"status": "ready", "checks": {"kafka": True}})
        body = {"status": "not_ready", "checks": {"kafka": False, "database": True}}
        return httpx.Response(503, json=body)

    async with httpx.AsyncClient(transport=httpx.MockTransport(readyz)) as client:
        ready = await check_service(client=client, name="ingest", url="http://ready/")
        not_ready = await check_service(client=client, name="notify", url="http://sick")

    assert (ready.ok, ready.target, ready.detail) == (True, "http://ready/readyz", "HTTP 200 ready")
    assert (not_ready.ok, not_ready.detail) == (False, "HTTP 503 not_ready (kafka)")


async def test_kafka_down_is_a_one_line_error(cli: Invoke) -> None:
    result = await cli("--bootstrap", "127.0.0.1:1", "dlq", "list")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: Kafka unavailable")


async def test_bad_stage_group_override_is_a_usage_error(cli: Invoke) -> None:
    result = await cli("lag", "--group", "enrch=x")
    assert result.exit_code == 2
    assert "STAGE=GROUP" in result.stderr
