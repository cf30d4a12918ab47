"""`feedloop customer export ID`: a customer's data export, as notify assembles it."""

import os
from typing import Annotated, Any

import httpx
import typer
from feedloop.cli import output
from feedloop.cli.context import failure

customer_app = typer.Typer(help="Customers' data rights: export.", no_args_is_help=True)


def fetch_export(*, notify: str, api_key: str, customer_id: str, timeout_s: float) -> Any:
    """Returns the export document from notify; raises typer.Exit on any refusal."""
    url = f"{notify.rstrip('/')}/v1/customers/{customer_id}/export"
    try:
        response = httpx.get(url, headers={"X-API-Key": api_key}, timeout=timeout_s)
    except httpx.HTTPError as exc:
        raise failure(f"notify did not answer: {exc or type(exc).__name__}") from exc
    if response.status_code != 200:
        raise failure(f"notify answered {response.status_code}: {response.text[:300]}")
    return response.json()


@customer_app.command("export")
def export(
    customer_id: Annotated[str, typer.Argument(help="The customer's id.")],
    notify: Annotated[
        str, typer.Option(envvar="FEEDLOOP_NOTIFY_URL", help="Base URL of notify.")
    ] = "http://127.0.0.1:8004",
    api_key: Annotated[
        str | None,
        typer.Option(
            envvar="FEEDLOOP_API_KEY",
            help="A key with the customers:export scope (the export is audited under it).",
            show_default=False,
        ),
    ] = None,
    timeout: Annotated[float, typer.Option(min=0.1, help="Seconds to wait.")] = 30.0,
) -> None:
    """Print everything feedloop holds of a customer as one JSON document."""
    key = api_key or os.environ.get("FEEDLOOP_API_KEY")
    if not key:
        raise failure("an API key with customers:export is needed (--api-key or FEEDLOOP_API_KEY)")
    output.print_json(
        fetch_export(notify=notify, api_key=key, customer_id=customer_id, timeout_s=timeout)
    )
