"""`make run` names the service that died, its exit code and last lines (scripts/run_local.py)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from scripts.run_local import Watch

ROOT = Path(__file__).resolve().parents[1]


def run_local(procfile: Path, **popen: object) -> subprocess.Popen[str]:
    """Starts scripts/run_local.py on a Procfile, output captured."""
    return subprocess.Popen(
        [sys.executable, "-m", "scripts.run_local", "-f", str(procfile)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,  # type: ignore[call-overload]
    )


def test_the_process_that_stopped_first_is_named_not_the_ones_honcho_stopped() -> None:
    seen = Watch(keep=2)
    for line in [
        "10:00:00 system     | enrich.1 started (pid=1)",
        "10:00:00 system     | prioritize.1 started (pid=2)",
        "10:00:01 enrich.1   | loading models",
        "10:00:02 prioritize.1 | migrating",
        "10:00:03 prioritize.1 | sqlalchemy.exc.OperationalError: database is locked",
        "10:00:03 prioritize.1 | Traceback ended",
        "10:00:03 system     | prioritize.1 stopped (rc=1)",
        "10:00:03 system     | sending SIGTERM to enrich.1 (pid 1)",
        "10:00:04 enrich.1   | shutting down",
        "10:00:04 system     | enrich.1 stopped (rc=-15)",
    ]:
        seen.feed(line + "\n")
    report = seen.report()
    assert report is not None
    assert report.splitlines()[0].startswith("*** prioritize (prioritize.1) exited with code 1")
    assert "database is locked" in report and "Traceback ended" in report
    assert "migrating" not in report, "only the last lines are kept"
    assert "shutting down" not in report, "enrich's lines are not prioritize's"


def test_after_ctrl_c_nothing_is_named() -> None:
    seen = Watch()
    for line in [
        "10:00:00 system | SIGINT received",
        "10:00:00 system | sending SIGTERM to a.1 (pid 1)",
        "10:00:01 system | a.1 stopped (rc=-15)",
    ]:
        seen.feed(line + "\n")
    assert seen.report() is None


def test_a_real_honcho_run_names_the_dead_service_and_its_last_lines(tmp_path: Path) -> None:
    procfile = tmp_path / "Procfile"
    procfile.write_text(
        "steady: sleep 60\n"
        "crashy: echo starting; echo 'ValueError: bad setting' >&2; sleep 1; exit 3\n"
    )
    proc = run_local(procfile)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 3
    assert "crashy.1" in out, "honcho's own output is passed through"
    assert "*** crashy (crashy.1) exited with code 3" in err
    assert "ValueError: bad setting" in err.split("***", 1)[1]
    assert "steady" not in err


def test_ctrl_c_stops_everything_without_blaming_anyone(tmp_path: Path) -> None:
    procfile = tmp_path / "Procfile"
    procfile.write_text("one: sleep 60\ntwo: sleep 60\n")
    proc = run_local(procfile, start_new_session=True)
    time.sleep(2)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert "***" not in err
