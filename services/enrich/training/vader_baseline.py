"""VADER (Hutto & Gilbert) on the held-out ICWSM sentences our head never trained on.

    .venv/bin/python services/enrich/training/vader_baseline.py

Runs the vaderSentiment 3.3.2 code and lexicon from the same PyPI sdist the data comes from
(imported from a temporary folder, not installed), labels compound >= 0.05 positive,
<= -0.05 negative (the authors' thresholds), and prints accuracy per domain beside
model/sentiment-use-v2/metrics.json's figures for our head.
"""

import importlib.util
import json
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from data import DOMAINS, ensure_icwsm, heldout_ids, load_icwsm  # noqa: E402

METRICS = HERE.parent / "src/feedloop/enrich/model/sentiment-use-v2/metrics.json"


def main() -> None:
    sdist = ensure_icwsm()
    data = load_icwsm(sdist)
    held = heldout_ids(data)
    ours = json.loads(METRICS.read_text())["icwsm_heldout"]
    with tempfile.TemporaryDirectory() as scratch, tarfile.open(sdist) as archive:
        for name in ("vaderSentiment.py", "vader_lexicon.txt", "emoji_utf8_lexicon.txt"):
            member = archive.extractfile(f"vaderSentiment-3.3.2/vaderSentiment/{name}")
            assert member is not None
            (Path(scratch) / name).write_bytes(member.read())
        spec = importlib.util.spec_from_file_location("vader", Path(scratch) / "vaderSentiment.py")
        assert spec is not None and spec.loader is not None
        vader = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(vader)
        analyzer = vader.SentimentIntensityAnalyzer(
            lexicon_file=str(Path(scratch) / "vader_lexicon.txt"),
            emoji_lexicon=str(Path(scratch) / "emoji_utf8_lexicon.txt"),
        )
        print("| ICWSM held-out | n | VADER acc. / binary | our head acc. / binary |")
        print("| --- | --- | --- | --- |")
        for domain in DOMAINS:
            keep = set(held[domain])
            rows = [e for e in data[domain] if e.id in keep]
            hits, polar_hits, polar = 0, 0, 0
            for e in rows:
                compound = analyzer.polarity_scores(e.text)["compound"]
                label = 2 if compound >= 0.05 else 0 if compound <= -0.05 else 1
                hits += label == e.label
                if e.label != 1:
                    polar += 1
                    polar_hits += label == e.label
            o = ours[domain]
            print(
                f"| {domain} | {len(rows)} | {hits / len(rows):.3f} / {polar_hits / polar:.3f} "
                f"| {o['accuracy']:.3f} / {o['binary_accuracy']:.3f} |"
            )


if __name__ == "__main__":
    main()
