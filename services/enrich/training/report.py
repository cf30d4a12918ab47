"""Print the model card's metric tables (markdown) from metrics.json files.

python services/enrich/training/report.py MODEL_DIR/metrics.json [OTHER/metrics.json ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

COLUMNS = ("n", "binary_acc", "acc3", "macro_f1", "f1_negative", "f1_neutral", "f1_positive")


def table(metrics: dict[str, object]) -> str:
    domains = metrics["domains"]
    assert isinstance(domains, dict)
    lines = ["| set | " + " | ".join(COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for name, row in domains.items():
        lines.append(f"| {name} | " + " | ".join(str(row[c]) for c in COLUMNS) + " |")
    return "\n".join(lines)


def main() -> None:
    for arg in sys.argv[1:]:
        metrics = json.loads(Path(arg).read_text())
        print(f"### {arg} (holdout={metrics['holdout']})\n\n{table(metrics)}\n")
        print("throughput (sentences/s):", metrics.get("throughput_sentences_per_s"), "\n")


if __name__ == "__main__":
    main()
