"""Load from vegeta (a Go constant-rate HTTP load generator): the client is not the bottleneck."""

import base64
import os
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
VEGETA_VERSION = "v12.12.0"


def vegeta_bin() -> str:
    """Returns the vegeta binary, installing it from the Go module proxy once if missing."""
    local = ROOT / ".local" / "go" / "bin" / "vegeta"
    if local.exists():
        return str(local)
    found = shutil.which("vegeta")
    if found:
        return found
    env = os.environ | {"GOBIN": str(local.parent), "GOFLAGS": "-mod=mod"}
    subprocess.run(
        ["go", "install", f"github.com/tsenart/vegeta/v12@{VEGETA_VERSION}"], check=True, env=env
    )
    return str(local)


def write_targets(path: Path, url: str, bodies: Iterable[bytes], headers: dict[str, str]) -> int:
    """Writes vegeta JSON targets (one POST per body); returns how many."""
    count = 0
    with path.open("wb") as out:
        for body in bodies:
            target = {
                "method": "POST",
                "url": url,
                "body": base64.b64encode(body).decode(),
                "header": {k: [v] for k, v in headers.items()},
            }
            out.write(orjson.dumps(target) + b"\n")
            count += 1
    return count


def attack_results(
    targets: Path, *, rate: int, duration_s: float, workers: int = 64
) -> list[dict[str, Any]]:
    """Runs an attack and returns every request's result (code, timestamp, latency, body)."""
    binary = vegeta_bin()
    cmd = [
        binary, "attack", "-format=json", f"-targets={targets}", "-lazy",
        f"-rate={rate}/s", f"-duration={duration_s}s", f"-workers={workers}", "-timeout=60s",
    ]  # fmt: skip
    results = subprocess.run(cmd, check=True, capture_output=True).stdout
    encoded = subprocess.run(
        [binary, "encode", "-to=json"], input=results, check=True, capture_output=True
    ).stdout
    return [orjson.loads(line) for line in encoded.splitlines() if line.strip()]


def attack(targets: Path, *, rate: int, duration_s: float, workers: int = 64) -> dict[str, Any]:
    """Runs an attack (rate 0 = as fast as `workers` allow) and returns vegeta's JSON report.

    The report gains `latencies_ms`: every request's latency in ms, in the order sent, so
    callers can read percentiles vegeta does not report (p99.9).
    """
    binary = vegeta_bin()
    cmd = [
        binary, "attack", "-format=json", f"-targets={targets}", "-lazy",
        f"-rate={rate}/s" if rate else "-rate=0", f"-duration={duration_s}s",
        f"-workers={workers}", "-timeout=60s",
    ]  # fmt: skip
    if not rate:
        cmd.append(f"-max-workers={workers}")
    results = subprocess.run(cmd, check=True, capture_output=True).stdout
    report = subprocess.run(
        [binary, "report", "-type=json"], input=results, check=True, capture_output=True
    ).stdout
    parsed: dict[str, Any] = orjson.loads(report)
    encoded = subprocess.run(
        [binary, "encode", "-to=json"], input=results, check=True, capture_output=True
    ).stdout
    lines = [orjson.loads(line) for line in encoded.splitlines() if line.strip()]
    # With -lazy, running out of targets ends the attack with one result that is no request.
    ran_out = [r for r in lines if r["code"] == 0 and "no targets" in (r.get("error") or "")]
    lines = [r for r in lines if r not in ran_out]
    if ran_out:
        codes = parsed["status_codes"]
        codes["0"] -= len(ran_out)
        if not codes["0"]:
            del codes["0"]
        parsed["requests"] = len(lines)
        ok = sum(n for code, n in codes.items() if code.startswith("2"))
        parsed["success"] = ok / len(lines) if lines else 0.0
    parsed["latencies_ms"] = [r["latency"] / 1e6 for r in lines]
    return parsed
