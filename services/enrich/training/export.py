"""Write the runtime artifact: int8 ONNX model, tokenizer.json, config.json, heldout.json.

The folder format is generic: any Hugging Face sequence-classification model exported to ONNX with
inputs named like the tokenizer's outputs (``input_ids``, ``attention_mask``, optionally
``token_type_ids``) and one output ``logits`` [batch, num_labels], plus ``config.json`` carrying
``id2label``, loads the same way at run time.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import data as icwsm
import torch
from onnxruntime.quantization import QuantType, quantize_dynamic
from tokenizers import Tokenizer

OPSET = 17


def export_onnx(model: torch.nn.Module, tok: Tokenizer, path: Path) -> None:
    encoder = getattr(model, "encoder", None)
    if encoder is not None and hasattr(encoder, "set_attn_implementation"):
        encoder.set_attn_implementation("eager")
    enc = tok.encode_batch(["an example sentence for tracing", "short"])
    args = tuple(
        torch.tensor([getattr(e, field) for e in enc], dtype=torch.long)
        for field in ("ids", "attention_mask", "type_ids")
    )
    names = ["input_ids", "attention_mask", "token_type_ids"]
    axes: dict[str, dict[int, str]] = {n: {0: "batch", 1: "sequence"} for n in names}
    axes["logits"] = {0: "batch"}
    with torch.no_grad():
        torch.onnx.export(
            model,
            args,
            str(path),
            input_names=names,
            output_names=["logits"],
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
            do_constant_folding=True,
        )


def write_config(base: Path, out: Path, extra: dict[str, Any]) -> None:
    config = json.loads((base / "config.json").read_text())
    config.pop("_name_or_path", None)
    config["architectures"] = ["MeanPoolSequenceClassification"]
    config["id2label"] = {str(i): name for i, name in enumerate(icwsm.LABELS)}
    config["label2id"] = {name: i for i, name in enumerate(icwsm.LABELS)}
    config["problem_type"] = "single_label_classification"
    config["feedloop"] = {
        "format": "onnx-sequence-classification/v1",
        "onnx_file": "model.onnx",
        "output": "logits",
        "pooling": "mean",
        "quantization": "onnxruntime quantize_dynamic, QInt8 weights, per channel",
        **extra,
    }
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")


def export_artifact(
    model: torch.nn.Module,
    tok: Tokenizer,
    base: Path,
    out: Path,
    heldout: dict[str, list[str]],
    train_info: dict[str, Any],
) -> None:
    work = icwsm.REPO_ROOT / ".local" / "runs" / out.name
    work.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), work / "model.pt")
    fp32 = work / "model.fp32.onnx"
    export_onnx(model, tok, fp32)
    quantize_dynamic(fp32, out / "model.onnx", weight_type=QuantType.QInt8, per_channel=True)
    tok.save(str(out / "tokenizer.json"))
    write_config(base, out, {"max_length": train_info["hyperparameters"]["max_length"]})
    (out / "heldout.json").write_text(
        json.dumps(
            {
                "source": f"{icwsm.SDIST_NAME} sha256:{icwsm.SDIST_SHA256}",
                "split_seed": icwsm.SPLIT_SEED,
                "fraction": icwsm.HELDOUT_FRACTION,
                "ids": heldout,
            },
            indent=0,
        )
        + "\n"
    )
    (work / "train_info.json").write_text(json.dumps(train_info, indent=2) + "\n")
