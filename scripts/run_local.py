"""Runs the Procfile with honcho (`make run`) and, when a service dies, names it and shows why.

honcho stops every process when one exits, so the one that failed is buried among the others'
shutdown lines. This wrapper passes honcho's output through unchanged, keeps the last lines of
each process, and at the end prints which process stopped first by itself, its exit code and its
last lines. After Ctrl-C (or SIGTERM) nothing died by itself and nothing more is printed.
    python -m scripts.run_local [-f Procfile] [honcho start args...]
"""

import os
import re
import signal
import subprocess
import sys
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TextIO

LAST_LINES = 30
# honcho 2.x: "HH:MM:SS name.1   | text"; its own lines come from "system".
LINE = re.compile(r"^\d\d:\d\d:\d\d (?P<name>\S+)\s*\| (?P<text>.*)$")
STOPPED = re.compile(r"^(?P<name>\S+) stopped \(rc=(?P<rc>-?\d+)\)$")
SHUTDOWN = re.compile(r"^(sending SIG|SIGINT received|SIGTERM received)")


@dataclass
class Watch:
    """What honcho printed so far: each process's last lines and who stopped first by itself."""

    keep: int = LAST_LINES
    tails: dict[str, deque[str]] = field(default_factory=dict)
    died: tuple[str, int] | None = None
    shutting_down: bool = False

    def feed(self, line: str) -> None:
        """Takes one line of honcho's output."""
        match = LINE.match(line.rstrip("\n"))
        if match is None:
            return
        name, text = match["name"], match["text"]
        if name != "system":
            self.tails.setdefault(name, deque(maxlen=self.keep)).append(text)
            return
        if SHUTDOWN.match(text):
            self.shutting_down = True
        elif (stopped := STOPPED.match(text)) and not self.shutting_down and self.died is None:
            self.died = (stopped["name"], int(stopped["rc"]))

    def report(self) -> str | None:
        """Returns who died and its last lines, or None when nothing died by itself."""
        if self.died is None:
            return None
        name, rc = self.died
        service = name.rsplit(".", 1)[0]
        tail = self.tails.get(name, deque())
        how = f"was killed by signal {-rc}" if rc < 0 else f"exited with code {rc}"
        lines = [f"*** {service} ({name}) {how}; honcho stopped the others because of it."]
        lines.append(f"*** its last {len(tail)} lines:" if tail else "*** it printed nothing.")
        lines.extend(f"    {text}" for text in tail)
        return "\n".join(lines)


def watch(lines: Iterable[str], out: TextIO) -> Watch:
    """Copies honcho's lines to out while watching them."""
    seen = Watch()
    for line in lines:
        out.write(line)
        out.flush()
        seen.feed(line)
    return seen


def main() -> int:
    """Runs honcho start with the given arguments; returns its exit code."""
    honcho = os.path.join(os.path.dirname(sys.executable), "honcho")
    args = sys.argv[1:]
    proc = subprocess.Popen(
        [honcho, *args[:2], "start", *args[2:]] if args[:1] == ["-f"] else [honcho, "start", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    # Ctrl-C reaches honcho from the terminal; a SIGTERM sent to this process only is passed on.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: proc.send_signal(signal.SIGTERM))
    assert proc.stdout is not None
    seen = watch(proc.stdout, sys.stdout)
    rc = proc.wait()
    if (report := seen.report()) is not None:
        print(report, file=sys.stderr)
    return rc


if __name__ == "__main__":
    sys.exit(main())
