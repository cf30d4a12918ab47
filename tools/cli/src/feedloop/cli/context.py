"""What every command shares: the resolved global options, running coroutines, failing."""

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import typer
from aiokafka.errors import KafkaError
from feedloop.cli.kafka import TopicMissing
from feedloop.cli.settings import CliSettings

T = TypeVar("T")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON (for scripts).")]


@dataclass(frozen=True, slots=True)
class Options:
    """What the global options resolved to, handed to every command."""

    settings: CliSettings
    json: bool


def options(ctx: typer.Context, json_output: bool) -> Options:
    """Returns the global options, with a command's own --json folded in."""
    opts: Options = ctx.find_root().obj
    return Options(opts.settings, opts.json or json_output)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Runs a coroutine; Kafka failures become a one-line error and exit code 2."""
    try:
        return asyncio.run(coro)
    except TopicMissing as exc:
        raise failure(f"topic {exc} does not exist (is --topic-prefix right?)") from exc
    except (KafkaError, TimeoutError, OSError) as exc:
        raise failure(f"Kafka unavailable: {exc or type(exc).__name__}") from exc


def failure(message: str, code: int = 2) -> typer.Exit:
    """Prints an error on stderr and returns the exit to raise (`raise failure(...)`)."""
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)
