"""Where ingest's CPU goes under load: py-spy flame graphs of single and batch POSTs.

    python -m benchmarks.profile_ingest docs/profiles/ingest-after [--py-spy PATH]

Starts ingest as bench-ingest does (a real uvicorn process on the local broker), drives it for
`--seconds` with vegeta (single POSTs, 64 in flight; then batches of 1,000 items, 4 in flight)
while py-spy samples it at 200 Hz, and writes PREFIX-single.svg and PREFIX-batch.svg (flame
graphs) and prints the frames with the most samples, own and inclusive. py-spy is a profiling
tool, not a dependency: `pip install py-spy` anywhere and pass its path (or put it on PATH).
"""

import argparse
import asyncio
import collections
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import orjson
from feedloop.common import topics
from feedloop.common.kafka import ensure_topics
from feedloop.common.settings import ServiceSettings

from benchmarks.bench_ingest import HEADERS, INGEST_PORT, ingest_env, item
from benchmarks.common import ROOT, load_average, service
from benchmarks.vegeta import attack, write_targets


def top_frames(collapsed: Path, n: int = 15) -> str:
    """The n frames with the most samples of their own, and the n most inclusive ones."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        samples = int(count)
        total += samples
        frames = stack.split(";")
        own[frames[-1]] += samples
        for frame in set(frames):
            inclusive[frame] += samples
    lines = [f"  {total} samples; own:"]
    lines += [f"  {c / total:6.1%}  {f}" for f, c in own.most_common(n)]
    lines.append("  inclusive (below the server's own frames):")
    deep = [(f, c) for f, c in inclusive.most_common() if c < 0.9 * total][:n]
    lines += [f"  {c / total:6.1%}  {f}" for f, c in deep]
    return "\n".join(lines)


def record(spy: str, pid: int, out: Path, seconds: float, raw: bool) -> subprocess.Popen[bytes]:
    """Starts py-spy sampling a process for `seconds`: a flame graph, or collapsed stacks."""
    argv = [spy, "record", "-p", str(pid), "-o", str(out), "-r", "200", "-d", str(int(seconds))]
    argv += ["--nonblocking"] + (["-f", "raw"] if raw else [])
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def main(args: argparse.Namespace) -> None:
    spy = args.py_spy or shutil.which("py-spy")
    if not spy:
        raise SystemExit("py-spy not found: pip install py-spy, then pass --py-spy PATH")
    bootstrap = args.bootstrap
    prefix = f"prof{uuid.uuid4().hex[:6]}."
    settings = ServiceSettings(kafka_bootstrap_servers=bootstrap, kafka_topic_prefix=prefix)
    await ensure_topics(settings, [topics.RAW_FEEDBACK], partitions=6)
    url = f"http://127.0.0.1:{INGEST_PORT}/v1/feedback"
    work = ROOT / ".local" / "bench"
    work.mkdir(parents=True, exist_ok=True)
    run = uuid.uuid4().hex[:8]
    n = int(args.seconds * 3000)
    singles = (orjson.dumps(item(run + "s", i)) for i in range(n))
    write_targets(work / "prof-single.jsonl", url, singles, HEADERS)
    batches = (
        orjson.dumps({"items": [item(run + "b", b * 1000 + i) for i in range(1000)]})
        for b in range(max(1, n // 100))
    )
    write_targets(work / "prof-batch.jsonl", url + "/batch", batches, HEADERS)
    out = Path(args.prefix)
    out.parent.mkdir(parents=True, exist_ok=True)
    with (
        service("feedloop-ingest", ingest_env(INGEST_PORT, bootstrap, prefix), INGEST_PORT) as p,
        tempfile.TemporaryDirectory() as tmp,
    ):
        for name, workers in (("single", 64), ("batch", 4)):
            svg = record(spy, p.pid, Path(f"{out}-{name}.svg"), args.seconds, raw=False)
            raw = record(spy, p.pid, Path(tmp) / f"{name}.txt", args.seconds, raw=True)
            report = attack(
                work / f"prof-{name}.jsonl", rate=0, duration_s=args.seconds, workers=workers
            )
            svg.wait()
            raw.wait()
            print(
                f"\n{name}: {report['throughput']:,.1f} requests/s, "
                f"{report['success'] * 100:.1f}% 2xx; {load_average()}"
            )
            print(top_frames(Path(tmp) / f"{name}.txt"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("prefix", help="output path prefix, e.g. docs/profiles/ingest-after")
    parser.add_argument("--py-spy", default="")
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    asyncio.run(main(parser.parse_args()))
