"""Quality of the enrich stage on our labelled feedback: sentiment, themes, language.

    python services/enrich/quality/evaluate.py             # figures on dev, test and all
    python services/enrich/quality/evaluate.py --calibrate # sweep the theme calibration on dev
    python services/enrich/quality/evaluate.py --write docs/enrich-quality.md
    python services/enrich/quality/evaluate.py --before MODEL_DIR  # that model beside the shipped

Runs the stage's own code path (redaction, segmentation, both models, the taxonomy) through
`Enricher`, exactly as the consumer does, on the items of feedback_labelled.yaml.
"""

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from feedloop.common.events import Enrichment
from feedloop.enrich.language import DEFAULT_LANGUAGES, LanguageDetector
from feedloop.enrich.pii import redact
from feedloop.enrich.service import Enricher
from feedloop.enrich.settings import EnrichSettings

HERE = Path(__file__).resolve().parent
TRAINING = HERE.parent / "training"
DATA = HERE / "feedback_labelled.yaml"
MORE = HERE / "labelled"
LABELS = ("negative", "neutral", "positive")


@dataclass(frozen=True)
class Item:
    """One labelled feedback item."""

    id: str
    channel: str
    lang: str
    sentiment: str
    themes: frozenset[str]
    text: str
    sarcasm: bool = False
    mixed: tuple[tuple[str, str], ...] = ()

    @property
    def split(self) -> str:
        """'dev' (even id number: calibration) or 'test' (odd: reported)."""
        return "dev" if int("".join(c for c in self.id if c.isdigit())) % 2 == 0 else "test"


def load_items(paths: Sequence[Path] | None = None) -> list[Item]:
    """Reads the labelled set: the core file and every file under labelled/."""
    files = paths or [DATA, *sorted(MORE.glob("*.yaml"))]
    raw = [r for path in files for r in yaml.safe_load(path.read_text())["items"]]
    return [
        Item(
            r["id"],
            r["channel"],
            r["lang"],
            r["sentiment"],
            frozenset(r["themes"]),
            r["text"],
            bool(r.get("sarcasm", False)),
            tuple(sorted((r.get("mixed") or {}).items())),
        )
        for r in raw
    ]


def analyse(enricher: Enricher, items: Sequence[Item]) -> list[Enrichment]:
    """Runs the stage's analysis on the items' redacted texts."""
    documents = []
    for item in items:
        redaction = redact(item.text)
        documents.append(enricher.document(redaction.text, pii=redaction.counts))
    return enricher.analyse(documents, source="quality")


def f1(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    """Precision, recall and F1 (0 when undefined)."""
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    score = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, score


def score(
    items: Sequence[Item], results: Sequence[Enrichment], themes: Sequence[str]
) -> dict[str, Any]:
    """Sentiment accuracy and macro-F1, theme P/R/F1 per theme, language accuracy."""
    gold = [i.sentiment for i in items]
    pred = [r.sentiment.label for r in results]
    per_label = {}
    for label in LABELS:
        tp = sum(g == p == label for g, p in zip(gold, pred, strict=True))
        fp = sum(p == label != g for g, p in zip(gold, pred, strict=True))
        fn = sum(g == label != p for g, p in zip(gold, pred, strict=True))
        per_label[label] = f1(tp, fp, fn)[2]
    polar = [(g, p) for g, p in zip(gold, pred, strict=True) if g != "neutral"]
    per_theme: dict[str, dict[str, float]] = {}
    totals = [0, 0, 0]
    for theme in themes:
        tp = fp = fn = 0
        for item, result in zip(items, results, strict=True):
            found = {t.theme for t in result.themes}
            tp += theme in found and theme in item.themes
            fp += theme in found and theme not in item.themes
            fn += theme not in found and theme in item.themes
        p, r, f = f1(tp, fp, fn)
        per_theme[theme] = {"precision": p, "recall": r, "f1": f, "support": tp + fn}
        totals = [totals[0] + tp, totals[1] + fp, totals[2] + fn]
    micro = f1(*totals)
    themed = [(i, r) for i, r in zip(items, results, strict=True) if i.themes]
    primary_hits = sum(r.primary_theme in i.themes for i, r in themed)
    unthemed = [(i, r) for i, r in zip(items, results, strict=True) if not i.themes]
    english = [(i, r) for i, r in zip(items, results, strict=True) if i.lang == "en"]
    return {
        "n": len(items),
        "sentiment_accuracy": float(np.mean([g == p for g, p in zip(gold, pred, strict=True)])),
        "sentiment_macro_f1": float(np.mean(list(per_label.values()))),
        "sentiment_f1": per_label,
        "sentiment_binary_accuracy": float(np.mean([g == p for g, p in polar])) if polar else 0.0,
        "sentiment_accuracy_en": float(
            np.mean([i.sentiment == r.sentiment.label for i, r in english])
        )
        if english
        else 0.0,
        "themes": per_theme,
        "theme_micro": {"precision": micro[0], "recall": micro[1], "f1": micro[2]},
        "theme_macro_f1": float(np.mean([v["f1"] for v in per_theme.values()])),
        "primary_theme_accuracy": primary_hits / len(themed) if themed else 0.0,
        "no_theme_accuracy": float(np.mean([not r.themes for _, r in unthemed]))
        if unthemed
        else 0.0,
        "language_accuracy": float(
            np.mean([i.lang == r.language.code for i, r in zip(items, results, strict=True)])
        ),
        **subsets(items, results),
    }


def subsets(items: Sequence[Item], results: Sequence[Enrichment]) -> dict[str, Any]:
    """Sarcasm and mixed-opinion figures: how often the hard cases come out right."""
    pairs = list(zip(items, results, strict=True))
    sarcastic = [i.sentiment == r.sentiment.label for i, r in pairs if i.sarcasm]
    theme_hits: list[bool] = []
    disagree = []
    for item, result in pairs:
        if not item.mixed:
            continue
        found = {t.theme: t.sentiment.label for t in result.themes}
        theme_hits += [found.get(theme) == label for theme, label in item.mixed]
        # Where gold has a theme whose tone differs from the whole, does ours differ too?
        gold_differs = any(label != item.sentiment for _, label in item.mixed)
        ours_differs = any(
            found.get(theme, result.sentiment.label) != result.sentiment.label
            for theme, _ in item.mixed
        )
        if gold_differs:
            disagree.append(ours_differs)
    return {
        "sarcasm_n": len(sarcastic),
        "sarcasm_accuracy": float(np.mean(sarcastic)) if sarcastic else 0.0,
        "mixed_n": sum(1 for i in items if i.mixed),
        "mixed_theme_sentiment_accuracy": float(np.mean(theme_hits)) if theme_hits else 0.0,
        "mixed_disagreement_found": float(np.mean(disagree)) if disagree else 0.0,
    }


def by_language(
    items: Sequence[Item], results: Sequence[Enrichment], themes: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """score() per language, on the items given."""
    out = {}
    for lang in sorted({i.lang for i in items}):
        chosen = [k for k, i in enumerate(items) if i.lang == lang]
        out[lang] = score([items[k] for k in chosen], [results[k] for k in chosen], themes)
    return out


def evaluate(enricher: Enricher, items: Sequence[Item]) -> dict[str, dict[str, Any]]:
    """Figures on the dev half, the test half and all items."""
    results = analyse(enricher, items)
    themes = [t.id for t in enricher.taxonomy.themes]
    out = {}
    for split in ("dev", "test", "all"):
        chosen = [k for k, i in enumerate(items) if split in ("all", i.split)]
        out[split] = score([items[k] for k in chosen], [results[k] for k in chosen], themes)
        out[split]["languages"] = by_language(
            [items[k] for k in chosen], [results[k] for k in chosen], themes
        )
    return out


def calibrate(enricher: Enricher, items: Sequence[Item]) -> dict[str, float]:
    """Sweeps threshold, relative lead and top-k on the dev half for the best theme micro-F1.

    Calibrates the examples (prototypes) alone, in cosine units: the path of themes the trained
    head does not know. The head's columns would ignore the swept values.
    """
    dev = [i for i in items if i.split == "dev"]
    matcher = enricher.matcher
    vectors = []
    for item in dev:
        document = enricher.document(redact(item.text).text)
        vectors.append(enricher.embed(document.segments) if document.segments else None)
    best: dict[str, float] = {"f1": -1.0}
    for top_k in (1, 2, 3):
        matcher.top_k = top_k
        for threshold in np.arange(0.20, 0.60, 0.02):
            for relative in np.arange(0.0, 0.24, 0.02):
                matcher.threshold, matcher.relative = float(threshold), float(relative)
                tp = fp = fn = 0
                for item, v in zip(dev, vectors, strict=True):
                    found: set[str] = set()
                    if v is not None:
                        hits = (matcher.prototype_evidence(v) >= 0).any(axis=0)
                        found = {matcher.ids[t] for t in np.flatnonzero(hits)}
                    tp += len(found & item.themes)
                    fp += len(found - item.themes)
                    fn += len(item.themes - found)
                p, r, f = f1(tp, fp, fn)
                if f > best["f1"] + 1e-9:
                    best = {
                        "f1": f,
                        "precision": p,
                        "recall": r,
                        "threshold": round(float(threshold), 2),
                        "relative": round(float(relative), 2),
                        "top_k": top_k,
                    }
    # Slope of the logistic confidence: maximum likelihood of "gold theme" given the evidence.
    matcher.top_k = int(best["top_k"])
    matcher.threshold, matcher.relative = best["threshold"], best["relative"]
    xs, ys = [], []
    for item, v in zip(dev, vectors, strict=True):
        if v is not None:
            strongest = matcher.prototype_evidence(v).max(axis=0)
            xs += [float(x) for x in strongest]
            ys += [theme in item.themes for theme in matcher.ids]
    x, y = np.array(xs), np.array(ys, dtype=float)
    slopes = np.arange(2.0, 60.0, 1.0)
    loglik = [
        float(np.sum(-np.logaddexp(0, -a * x) * y - np.logaddexp(0, a * x) * (1 - y)))
        for a in slopes
    ]
    best["slope"] = float(slopes[int(np.argmax(loglik))])
    return best


def language_ablation(items: Sequence[Item]) -> list[tuple[str, float]]:
    """Language accuracy of the shipped settings beside the alternatives we considered."""
    variants = [
        (
            "24 expected languages, und below 12 letters or p < 0.5 (shipped)",
            DEFAULT_LANGUAGES,
            12,
            0.5,
        ),
        ("all langid languages, same rules", None, 12, 0.5),
        ("24 languages, no 'und' rule", DEFAULT_LANGUAGES, 0, 0.0),
        ("all langid languages, no 'und' rule", None, 0, 0.0),
    ]
    out = []
    for name, languages, letters, confidence in variants:
        detector = LanguageDetector(languages, min_letters=letters, min_confidence=confidence)
        hits = [detector.detect(redact(i.text).text).code == i.lang for i in items]
        out.append((name, float(np.mean(hits))))
    return out


REPORT_ROWS: tuple[tuple[str, str | tuple[str, str], str], ...] = (
    ("items", "n", "{:d}"),
    ("sentiment accuracy (3 classes)", "sentiment_accuracy", "{:.3f}"),
    ("sentiment macro-F1", "sentiment_macro_f1", "{:.3f}"),
    ("sentiment binary accuracy (gold neg/pos)", "sentiment_binary_accuracy", "{:.3f}"),
    ("sentiment accuracy, English items", "sentiment_accuracy_en", "{:.3f}"),
    ("theme micro-F1", ("theme_micro", "f1"), "{:.3f}"),
    ("theme micro precision", ("theme_micro", "precision"), "{:.3f}"),
    ("theme micro recall", ("theme_micro", "recall"), "{:.3f}"),
    ("theme macro-F1", "theme_macro_f1", "{:.3f}"),
    ("primary theme among gold themes", "primary_theme_accuracy", "{:.3f}"),
    ("no theme found where none is gold", "no_theme_accuracy", "{:.3f}"),
    ("language accuracy", "language_accuracy", "{:.3f}"),
    ("sarcastic items", "sarcasm_n", "{:d}"),
    ("sarcasm: sentiment accuracy (all gold negative)", "sarcasm_accuracy", "{:.3f}"),
    ("mixed-opinion items", "mixed_n", "{:d}"),
    ("mixed: per-theme sentiment accuracy", "mixed_theme_sentiment_accuracy", "{:.3f}"),
    (
        "mixed: a theme's tone differs from the whole where gold's does",
        "mixed_disagreement_found",
        "{:.3f}",
    ),
)


def _figures_table(figures: dict[str, dict[str, Any]]) -> list[str]:
    """One row per REPORT_ROWS entry, one column per split."""
    lines = [
        "| metric | dev | test | all |",
        "| --- | --- | --- | --- |",
    ]
    for name, key, fmt in REPORT_ROWS:
        cells = []
        for split in ("dev", "test", "all"):
            value = figures[split]
            for part in key if isinstance(key, tuple) else (key,):
                value = value[part]
            cells.append(fmt.format(value))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def _themes_table(figures: dict[str, dict[str, Any]]) -> list[str]:
    """Per-class sentiment F1, then one row per theme."""
    lines = [
        "",
        "Sentiment F1 per class (all): "
        + ", ".join(f"{k} {v:.3f}" for k, v in figures["all"]["sentiment_f1"].items()),
        "",
        "| theme | support | precision | recall | F1 (all) | F1 (test) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for theme, v in figures["all"]["themes"].items():
        test = figures["test"]["themes"][theme]["f1"]
        cells = [f"{v['support']:d}"] + [f"{x:.3f}" for x in (v["precision"], v["recall"], v["f1"])]
        lines.append(f"| {theme} | " + " | ".join([*cells, f"{test:.3f}"]) + " |")
    return lines


def _languages_table(figures: dict[str, dict[str, Any]]) -> list[str]:
    """One row per language: test-split figures (or '-') beside those of all items."""
    lines = [
        "",
        "| language | items (test) | sentiment acc. (test) | sentiment acc. (all) "
        "| theme micro-F1 (test) | theme micro-F1 (all) | language id (all) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for lang, v in figures["all"]["languages"].items():
        t = figures["test"]["languages"].get(lang)
        test_n = f"{t['n']:d}" if t else "0"
        test_acc = f"{t['sentiment_accuracy']:.3f}" if t else "-"
        test_f1 = f"{t['theme_micro']['f1']:.3f}" if t else "-"
        lines.append(
            f"| {lang} | {test_n} | {test_acc} | {v['sentiment_accuracy']:.3f} | {test_f1} "
            f"| {v['theme_micro']['f1']:.3f} | {v['language_accuracy']:.3f} |"
        )
    return lines


def report(
    figures: dict[str, dict[str, Any]],
    *,
    seconds: float,
    n: int,
    ablation: Sequence[tuple[str, float]],
) -> str:
    """The markdown tables of docs/enrich-quality.md."""
    lines = _figures_table(figures) + _themes_table(figures) + _languages_table(figures)
    lines += ["", f"Analysis time for the {n} items: {seconds:.1f} s (2 threads, one batch).", ""]
    lines += ["| language identification (all items) | accuracy |", "| --- | --- |"]
    lines += [f"| {name} | {accuracy:.3f} |" for name, accuracy in ablation]
    return "\n".join(lines)


def outside(enricher: Enricher) -> dict[str, dict[str, float]]:
    """3-class and binary sentiment accuracy on the ICWSM 2014 held-out ids of each domain
    (English; never trained on), through the stage's own analysis."""
    sys.path.insert(0, str(TRAINING))
    from data import DOMAINS, heldout_ids, load_icwsm

    icwsm = load_icwsm()
    held = heldout_ids(icwsm)
    out = {}
    for domain in DOMAINS:
        keep = set(held[domain])
        examples = [e for e in icwsm[domain] if e.id in keep]
        documents = [enricher.document(redact(e.text).text) for e in examples]
        pred = [r.sentiment.label for r in enricher.analyse(documents, source="quality")]
        gold = [LABELS[e.label] for e in examples]
        polar = [(g, p) for g, p in zip(gold, pred, strict=True) if g != "neutral"]
        out[domain] = {
            "n": len(examples),
            "accuracy": float(np.mean([g == p for g, p in zip(gold, pred, strict=True)])),
            "binary_accuracy": float(np.mean([g == p for g, p in polar])),
        }
    return out


def compare(before: Path, items: Sequence[Item]) -> str:
    """Test-half and outside figures of the model in `before` beside the shipped one, one run."""
    columns = []
    for model_dir in (before, EnrichSettings().model_dir):
        enricher = Enricher(EnrichSettings(intra_op_threads=2, model_dir=model_dir))
        test = evaluate(enricher, items)["test"]
        columns.append((enricher.classifier.name, test, outside(enricher)))
        del enricher
    rows: list[tuple[str, Any]] = [
        ("sentiment accuracy", lambda t, o: t["sentiment_accuracy"]),
        ("sentiment macro-F1", lambda t, o: t["sentiment_macro_f1"]),
        *[
            (f"  {lang}", lambda t, o, lang=lang: t["languages"][lang]["sentiment_accuracy"])
            for lang in sorted(columns[0][1]["languages"])
            if lang != "und"
        ],
        ("sarcasm accuracy", lambda t, o: t["sarcasm_accuracy"]),
        ("mixed: per-theme sentiment", lambda t, o: t["mixed_theme_sentiment_accuracy"]),
        ("mixed: tone differs where gold's does", lambda t, o: t["mixed_disagreement_found"]),
        ("theme micro-F1", lambda t, o: t["theme_micro"]["f1"]),
        *[(f"ICWSM held-out {d}: 3-class / binary", lambda t, o, d=d: o[d]) for d in columns[0][2]],
    ]
    lines = [
        f"| test half (odd ids) | before: {columns[0][0]} | after: {columns[1][0]} |",
        "| --- | --- | --- |",
    ]
    for name, get in rows:
        cells = []
        for _, test, out in columns:
            value = get(test, out)
            if isinstance(value, dict):
                cells.append(f"{value['accuracy']:.3f} / {value['binary_accuracy']:.3f}")
            else:
                cells.append(f"{value:.3f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    """Prints (and optionally writes) the quality figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calibrate", action="store_true")
    parser.add_argument("--write", type=Path, help="replace the figures block of this markdown")
    parser.add_argument(
        "--before",
        type=Path,
        help="a model folder to compare the shipped one with (test half, ICWSM held-out)",
    )
    args = parser.parse_args()
    items = load_items()
    if args.before:
        print(compare(args.before, items))
        return
    enricher = Enricher(EnrichSettings(intra_op_threads=2))
    if args.calibrate:
        print(calibrate(enricher, items))
        return
    started = time.perf_counter()
    figures = evaluate(enricher, items)
    seconds = time.perf_counter() - started
    text = report(figures, seconds=seconds, n=len(items), ablation=language_ablation(items))
    print(text)
    if args.write:
        begin, end = "<!-- figures:begin -->", "<!-- figures:end -->"
        doc = args.write.read_text()
        head, rest = doc.split(begin, 1)
        tail = rest.split(end, 1)[1]
        args.write.write_text(f"{head}{begin}\n{text}\n{end}{tail}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
