"""The `feedloop` command: global options, `lag` and `health` (`dlq` is in dlq_commands)."""

import asyncio
import dataclasses
from typing import Annotated

import typer
from feedloop.cli import output
from feedloop.cli.context import JsonFlag, Options, failure, options, run
from feedloop.cli.customer import customer_app
from feedloop.cli.dlq_commands import dlq_app
from feedloop.cli.health import DEFAULT_URLS, check_health
from feedloop.cli.lag import STAGES, Stage, measure_lag
from feedloop.cli.settings import CliSettings

app = typer.Typer(
    name="feedloop",
    help="SRE tools for the feedloop pipeline: consumer lag, dead letters, health.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(dlq_app, name="dlq")
app.add_typer(customer_app, name="customer")


@app.callback()
def main_options(
    ctx: typer.Context,
    bootstrap: Annotated[
        str,
        typer.Option(
            "--bootstrap",
            envvar="FEEDLOOP_KAFKA_BOOTSTRAP_SERVERS",
            help="Kafka bootstrap servers.",
        ),
    ] = "127.0.0.1:9092",
    topic_prefix: Annotated[
        str,
        typer.Option(
            "--topic-prefix",
            envvar="FEEDLOOP_KAFKA_TOPIC_PREFIX",
            help="Prefix of every topic name (isolated environments, tests).",
        ),
    ] = "",
    json_output: JsonFlag = False,
) -> None:
    """Kafka connection options shared by every command."""
    settings = CliSettings(kafka_bootstrap_servers=bootstrap, kafka_topic_prefix=topic_prefix)
    ctx.obj = Options(settings, json_output)


@app.command()
def lag(
    ctx: typer.Context,
    max_lag: Annotated[
        int | None,
        typer.Option("--max-lag", min=0, help="Exit 1 when a stage lags by more records."),
    ] = None,
    group: Annotated[
        list[str] | None,
        typer.Option(
            metavar="STAGE=GROUP",
            help="A stage's consumer group when its service was configured with another one.",
        ),
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Consumer lag per stage: committed offset, end offset and lag per partition."""
    opts = options(ctx, json_output)
    stages = run(measure_lag(settings=opts.settings, stages=with_groups(group or [])))
    if opts.json:
        output.print_json({"stages": output.lag_data(stages), "max_lag": max_lag})
    else:
        output.render_lag(stages)
    missing = any(s.error for s in stages)
    over = max_lag is not None and any(s.lag > max_lag for s in stages)
    if missing or over:
        raise typer.Exit(1)


def with_groups(overrides: list[str]) -> tuple[Stage, ...]:
    """Returns the stages with the groups named by STAGE=GROUP options."""
    groups = {stage.name: stage.group for stage in STAGES}
    for item in overrides:
        name, sep, group = item.partition("=")
        if not sep or name not in groups or not group:
            raise failure(f"--group wants STAGE=GROUP with STAGE one of {', '.join(groups)}")
        groups[name] = group
    return tuple(dataclasses.replace(s, group=groups[s.name]) for s in STAGES)


@app.command()
def health(
    ctx: typer.Context,
    ingest: Annotated[str, typer.Option(help="Base URL of ingest.")] = DEFAULT_URLS["ingest"],
    enrich: Annotated[str, typer.Option(help="Base URL of enrich.")] = DEFAULT_URLS["enrich"],
    prioritize: Annotated[str, typer.Option(help="Base URL of prioritize.")] = DEFAULT_URLS[
        "prioritize"
    ],
    notify: Annotated[str, typer.Option(help="Base URL of notify.")] = DEFAULT_URLS["notify"],
    timeout: Annotated[float, typer.Option(min=0.1, help="Seconds per check.")] = 3.0,
    json_output: JsonFlag = False,
) -> None:
    """Readiness of every service and of the broker and its topics; exit 1 if any is down."""
    opts = options(ctx, json_output)
    urls = {"ingest": ingest, "enrich": enrich, "prioritize": prioritize, "notify": notify}
    checks = asyncio.run(check_health(settings=opts.settings, urls=urls, timeout_s=timeout))
    if opts.json:
        output.print_json({"ok": all(c.ok for c in checks), "checks": checks})
    else:
        output.render_health(checks)
    if not all(c.ok for c in checks):
        raise typer.Exit(1)
