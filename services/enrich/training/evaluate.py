"""Evaluate an ONNX sentiment artifact (onnxruntime + tokenizers only, no torch).

python services/enrich/training/evaluate.py --model DIR [--holdout amazon] [--write]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

sys.path.insert(0, str(Path(__file__).resolve().parent))

import data as icwsm


class OnnxClassifier:
    """Loads a folder with model.onnx, tokenizer.json and config.json (id2label)."""

    def __init__(self, folder: Path, threads: int = 2, onnx_file: str = "model.onnx") -> None:
        config = json.loads((folder / "config.json").read_text())
        self.labels = [config["id2label"][str(i)] for i in range(len(config["id2label"]))]
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            str(folder / onnx_file), opts, providers=["CPUExecutionProvider"]
        )
        self.input_names = {i.name for i in self.session.get_inputs()}

    def logits(self, texts: list[str]) -> np.ndarray:
        enc = self.tokenizer.encode_batch(texts)
        feeds = {
            "input_ids": np.array([e.ids for e in enc], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in enc], dtype=np.int64),
        }
        out = self.session.run(
            ["logits"], {k: v for k, v in feeds.items() if k in self.input_names}
        )
        return np.asarray(out[0])

    def predict_logits(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Logits [len(texts), num_labels], batching texts of similar length together."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), len(self.labels)), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            out[idx] = self.logits([texts[i] for i in idx])
        return out


def scores(gold: np.ndarray, logits: np.ndarray) -> dict[str, float]:
    """Binary accuracy (gold negative/positive only, negative vs positive logit), 3-class accuracy,
    macro-F1 and per-class F1. ``binary_acc_strict`` also counts a neutral prediction as wrong."""
    pred = logits.argmax(axis=-1)
    f1s = []
    for k in range(3):
        tp = float(np.sum((pred == k) & (gold == k)))
        precision = tp / max(1.0, float(np.sum(pred == k)))
        recall = tp / max(1.0, float(np.sum(gold == k)))
        f1s.append(0.0 if tp == 0 else 2 * precision * recall / (precision + recall))
    polar = gold != 1
    polar_pred = np.where(logits[polar, 2] > logits[polar, 0], 2, 0)
    return {
        "n": len(gold),
        "binary_n": int(polar.sum()),
        "binary_acc": round(float(np.mean(polar_pred == gold[polar])), 4),
        "binary_acc_strict": round(float(np.mean(pred[polar] == gold[polar])), 4),
        "acc3": round(float(np.mean(pred == gold)), 4),
        "macro_f1": round(float(np.mean(f1s)), 4),
        "f1_negative": round(f1s[0], 4),
        "f1_neutral": round(f1s[1], 4),
        "f1_positive": round(f1s[2], 4),
    }


def evaluate(clf: OnnxClassifier, examples: list[icwsm.Example]) -> dict[str, float]:
    gold = np.array([e.label for e in examples], dtype=np.int64)
    return scores(gold, clf.predict_logits([e.text for e in examples]))


def throughput(clf: OnnxClassifier, texts: list[str], seconds: float = 3.0) -> dict[str, float]:
    """Sentences per second at batch 1 / 8 / 32, tokenisation included: ``batch_N`` on texts in
    file order (mixed lengths, padded to the longest), ``sorted_batch_N`` sorted by length first."""
    result = {}
    by_length = sorted(texts, key=len)
    for prefix, pool in (("", texts), ("sorted_", by_length)):
        for batch in (1, 8, 32):
            if prefix and batch == 1:
                continue
            batches = [pool[i : i + batch] for i in range(0, len(pool) - batch + 1, batch)]
            clf.logits(batches[0])
            done, started = 0, time.perf_counter()
            while time.perf_counter() - started < seconds:
                clf.logits(batches[(done // batch) % len(batches)])
                done += batch
            result[f"{prefix}batch_{batch}"] = round(done / (time.perf_counter() - started), 1)
    return result


def run(folder: Path, holdout: str | None, threads: int = 2) -> dict[str, Any]:
    sets = icwsm.load_icwsm()
    heldout = icwsm.read_heldout(folder / "heldout.json")
    _, evals = icwsm.split(sets, heldout, holdout)
    clf = OnnxClassifier(folder, threads)
    metrics: dict[str, Any] = {"holdout": holdout, "domains": {}}
    for name, examples in evals.items():
        metrics["domains"][name] = evaluate(clf, examples)
        print(name, metrics["domains"][name], flush=True)
    amazon = [e.text for e in sets["amazon"] if e.id in set(heldout["amazon"])]
    metrics["throughput_sentences_per_s"] = throughput(clf, amazon)
    metrics["throughput_note"] = f"onnxruntime {ort.__version__}, {threads} threads, Amazon texts"
    print(metrics["throughput_sentences_per_s"], flush=True)
    return metrics


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--holdout", choices=icwsm.DOMAINS, default=None)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--write", action="store_true", help="write metrics.json into the folder")
    args = p.parse_args()
    metrics = run(args.model, args.holdout, args.threads)
    if args.write:
        (args.model / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")


if __name__ == "__main__":
    main()
