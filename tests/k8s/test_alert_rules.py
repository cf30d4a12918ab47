"""The PrometheusRule's alerts fire on their series, stay quiet otherwise, and wait their `for`."""

import copy
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "k8s" / "components" / "monitoring" / "prometheusrules.yaml"
TESTS = Path(__file__).with_name("prometheusrules.test.yaml")


def promtool() -> str:
    """Returns promtool's path; fails saying how to install it when it is missing."""
    found = shutil.which("promtool")
    if not found:
        pytest.fail("promtool is not installed: run `make promtool` (apt-get install prometheus)")
    return found


def rule_groups() -> list[dict[str, Any]]:
    """Returns the rule groups of the PrometheusRule, in Prometheus's own rule-file shape."""
    groups: list[dict[str, Any]] = yaml.safe_load(RULES.read_text())["spec"]["groups"]
    return groups


def alert_names() -> list[str]:
    """Returns the name of every alert of the PrometheusRule."""
    return [r["alert"] for g in rule_groups() for r in g["rules"] if "alert" in r]


def run_promtool(tmp_path: Path, groups: list[dict[str, Any]]) -> subprocess.CompletedProcess[str]:
    """Runs `promtool test rules` on our unit tests against the given rule groups."""
    (tmp_path / "feedloop.rules.yaml").write_text(yaml.safe_dump({"groups": groups}))
    shutil.copy(TESTS, tmp_path / TESTS.name)
    return subprocess.run(
        [promtool(), "test", "rules", TESTS.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_every_alert_passes_its_promtool_unit_tests(tmp_path: Path) -> None:
    out = run_promtool(tmp_path, rule_groups())
    assert out.returncode == 0, f"promtool test rules failed:\n{out.stdout}\n{out.stderr}"


def test_every_alert_has_a_firing_and_a_quiet_case() -> None:
    cases = [
        case for t in yaml.safe_load(TESTS.read_text())["tests"] for case in t["alert_rule_test"]
    ]
    for name in alert_names():
        mine = [c for c in cases if c["alertname"] == name]
        assert any(c["exp_alerts"] for c in mine), f"{name}: no case where it fires"
        assert any(not c["exp_alerts"] for c in mine), f"{name}: no case where it stays quiet"


@pytest.mark.parametrize("name", alert_names())
def test_the_unit_tests_notice_when_an_alerts_for_duration_changes(
    tmp_path: Path, name: str
) -> None:
    groups = copy.deepcopy(rule_groups())
    (rule,) = [r for g in groups for r in g["rules"] if r.get("alert") == name]
    # An alert with a `for` loses it; one that fires at once by design gets one.
    if rule.pop("for", None) is None:
        rule["for"] = "5m"
    out = run_promtool(tmp_path, groups)
    assert out.returncode != 0, f"{name} with another `for` still passes: its duration is untested"
    assert f"alertname: {name}" in out.stdout + out.stderr
