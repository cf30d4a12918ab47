"""`feedloop dlq list|show|replay`: dead letters counted, decoded, and sent back."""

from typing import Annotated, Any

import typer
from feedloop.cli import output
from feedloop.cli.context import JsonFlag, Options, failure, options, run
from feedloop.cli.dlq import count_dead_letters, read_dead_letters
from feedloop.cli.masking import audit_reveal, mask_record, operator_name
from feedloop.cli.replay import DEFAULT_GROUP, MAX_REPLAYS, ReplayUnsupported, replay_dead_letters
from feedloop.common import topics
from feedloop.common.codec import DeadLetterReason

dlq_app = typer.Typer(help="List, show and replay dead-letter records.", no_args_is_help=True)

NAMES = ", ".join(topics.DLQ_TOPICS)
REASONS = ", ".join(DeadLetterReason)
TopicArg = Annotated[
    str | None, typer.Argument(help=f"Dead-letter topic: {NAMES}.", show_default=False)
]
TopicOpt = Annotated[str | None, typer.Option("--topic", help="Same as TOPIC.", show_default=False)]
OperatorOpt = Annotated[
    str | None,
    typer.Option("--operator", help="Who acts, for the audit log [default: the login name]."),
]
OffsetOpt = Annotated[
    str | None, typer.Option("--offset", metavar="P:O", help="Start at partition P, offset O.")
]


def dlq_name(argument: str | None, option: str | None) -> str:
    """Returns the DLQ named by the argument or --topic (the runbook uses --topic)."""
    name = argument or option
    if name not in topics.DLQ_TOPICS:
        raise failure(f"{name!r} is not a dead-letter topic; name one of {NAMES}")
    return name


def position(text: str | None) -> tuple[int, int] | None:
    """Parses --offset PARTITION:OFFSET."""
    if text is None:
        return None
    partition, sep, offset = text.partition(":")
    if not sep or not partition.isdigit() or not offset.isdigit():
        raise failure(f"--offset wants PARTITION:OFFSET (e.g. 0:42), got {text!r}")
    return int(partition), int(offset)


def audited(
    opts: Options, operator: str | None, action: str, name: str, detail: dict[str, Any]
) -> None:
    """Writes an operator's action to the audit topic before it runs (fails the command if not)."""
    who = operator_name(operator)
    run(
        audit_reveal(
            settings=opts.settings, operator=who, action=action, target=name, detail=detail
        )
    )


@dlq_app.command("list")
def list_(
    ctx: typer.Context,
    topic: Annotated[str, typer.Option("--topic", help=f"{NAMES} or all.")] = "all",
    json_output: JsonFlag = False,
) -> None:
    """Count the records of each dead-letter topic, per dlq_reason."""
    opts = options(ctx, json_output)
    names = topics.DLQ_TOPICS if topic == "all" else (dlq_name(topic, None),)
    counts = run(count_dead_letters(settings=opts.settings, names=names))
    if opts.json:
        output.print_json({"topics": counts})
    else:
        output.render_counts(counts)


@dlq_app.command()
def show(
    ctx: typer.Context,
    topic: TopicArg = None,
    topic_option: TopicOpt = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many records.")] = 20,
    offset: OffsetOpt = None,
    reveal: Annotated[
        bool,
        typer.Option("--reveal", help="Show text and contact data in clear (audited)."),
    ] = False,
    operator: OperatorOpt = None,
    json_output: JsonFlag = False,
) -> None:
    """Show dead letters: position, key, dlq_* headers and the value (personal data masked)."""
    opts = options(ctx, json_output)
    name, start = dlq_name(topic, topic_option), position(offset)
    if reveal:
        audited(opts, operator, "dlq.revealed", name, {"limit": limit, "offset": offset or ""})
    records = run(read_dead_letters(settings=opts.settings, name=name, limit=limit, start=start))
    if not reveal:
        records = [mask_record(r) for r in records]
    if opts.json:
        output.print_json({"topic": opts.settings.topic(name), "records": records})
    else:
        output.render_records(records)


@dlq_app.command()
def replay(
    ctx: typer.Context,
    topic: TopicArg = None,
    topic_option: TopicOpt = None,
    reason: Annotated[
        str | None, typer.Option(help=f"Only records with this dlq_reason ({REASONS}).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show, send nothing.")] = False,
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many records.")] = None,
    group: Annotated[
        str | None,
        typer.Option(
            help=f"Consumer group keeping the replay cursor [default: {DEFAULT_GROUP}, "
            f"or {DEFAULT_GROUP}.REASON with --reason].",
            show_default=False,
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help=f"Replay records replayed {MAX_REPLAYS}+ times too.")
    ] = False,
    offset: Annotated[
        str | None,
        typer.Option(metavar="P:O", help="Only partition P from offset O; the cursor stays."),
    ] = None,
    operator: OperatorOpt = None,
    json_output: JsonFlag = False,
) -> None:
    """Send dead letters past the cursor back to their source topic, then move the cursor."""
    opts = options(ctx, json_output)
    name, start = dlq_name(topic, topic_option), position(offset)
    if not dry_run:
        detail = {"reason": reason or "", "limit": limit or 0, "force": force}
        audited(opts, operator, "dlq.replayed", name, detail)
    try:
        report = run(
            replay_dead_letters(
                settings=opts.settings,
                name=name,
                reason=reason,
                dry_run=dry_run,
                limit=limit,
                group=group,
                force=force,
                start=start,
            )
        )
    except ReplayUnsupported as exc:
        raise failure(str(exc)) from exc
    if opts.json:
        output.print_json(report)
    else:
        output.render_replay(report)
