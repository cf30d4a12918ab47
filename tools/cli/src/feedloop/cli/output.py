"""Rendering results: rich tables for people, JSON for scripts."""

import dataclasses
import json
from typing import Any

import typer
from feedloop.cli.dlq import DeadLetterCount
from feedloop.cli.health import Check
from feedloop.cli.lag import StageLag
from feedloop.cli.replay import ReplayReport
from rich.console import Console
from rich.syntax import Syntax
from rich.table import Table

PIPE_WIDTH = 160


def console() -> Console:
    """Returns a console on the current stdout; piped output is wide, so rows stay on one line."""
    out = Console(highlight=False)
    return out if out.is_terminal else Console(highlight=False, width=PIPE_WIDTH)


def print_json(data: Any) -> None:
    """Prints data as indented JSON on stdout (dataclasses become objects)."""
    typer.echo(json.dumps(data, indent=2, default=_plain, ensure_ascii=False))


def _plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    return str(obj)


def lag_data(stages: list[StageLag]) -> list[dict[str, Any]]:
    """Returns the stages as JSON-ready dicts with their total lag."""
    return [dataclasses.asdict(s) | {"lag": s.lag} for s in stages]


def render_lag(stages: list[StageLag]) -> None:
    """Prints one row per stage partition and a total per stage."""
    table = Table("stage", "group", "topic", "partition", "committed", "end", "lag")
    for stage in stages:
        if stage.error:
            table.add_row(stage.stage, stage.group, stage.topic, "", "", "", f"[red]{stage.error}")
            continue
        for p in stage.partitions:
            committed = "-" if p.committed is None else str(p.committed)
            table.add_row(
                stage.stage,
                stage.group,
                stage.topic,
                str(p.partition),
                committed,
                str(p.end),
                str(p.lag),
            )
        table.add_row(
            f"[bold]{stage.stage}", "", "", "total", "", "", f"[bold]{stage.lag}", end_section=True
        )
    console().print(table)


def render_counts(counts: list[DeadLetterCount]) -> None:
    """Prints the records of each dead-letter topic, per reason."""
    table = Table("dead-letter topic", "reason", "records")
    for count in counts:
        table.add_row(f"[bold]{count.topic}", "all", f"[bold]{count.total}")
        for reason, n in count.by_reason.items():
            table.add_row("", reason, str(n))
        table.add_section()
    console().print(table)


def render_records(records: list[dict[str, Any]]) -> None:
    """Prints each dead letter: position, key, dlq headers, value."""
    out = console()
    if not records:
        out.print("no records")
    for record in records:
        out.rule(f"{record['topic']} partition {record['partition']} offset {record['offset']}")
        info = Table.grid(padding=(0, 2))
        info.add_row("key", repr(record["key"]))
        for name, value in record["dlq"].items():
            info.add_row(name, "" if value is None else value)
        out.print(info)
        if record["value_is_json"]:
            text = json.dumps(record["value"], indent=2, ensure_ascii=False)
            out.print(Syntax(text, "json", theme="ansi_dark", word_wrap=True))
        else:
            out.print(f"value (not JSON): {record['value']}", markup=False)


def render_replay(report: ReplayReport) -> None:
    """Prints what a replay run sent, refused and skipped."""
    out = console()
    verb = "would replay" if report.dry_run else "replayed"
    table = Table("partition", "offset", "key", "reason", "to", "replay_count")
    for item in report.replayed:
        table.add_row(
            str(item.partition),
            str(item.offset),
            str(item.key),
            item.reason,
            item.target,
            str(item.replay_count),
        )
    if report.replayed:
        out.print(table)
    for refused in report.refused:
        out.print(f"[yellow]refused[/] {refused.partition}:{refused.offset}: {refused.why}")
    out.print(
        f"{verb} {len(report.replayed)} record(s) from {report.topic}; refused "
        f"{len(report.refused)}; skipped {report.skipped} with another reason"
    )
    moved = ", ".join(f"partition {p} -> {o}" for p, o in sorted(report.cursor.items()))
    state = "not moved (dry run)" if report.dry_run else (moved or "unchanged")
    out.print(f"cursor ({report.group}): {state}")


def render_health(checks: list[Check]) -> None:
    """Prints one row per check, green when up, red when down."""
    table = Table("check", "target", "status", "detail")
    for check in checks:
        status = "[green]up" if check.ok else "[red]DOWN"
        table.add_row(check.name, check.target, status, check.detail)
    console().print(table)
