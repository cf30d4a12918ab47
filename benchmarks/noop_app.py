"""The framework ceiling for ingest's single POST: a FastAPI endpoint that does nothing.

    python -m benchmarks.noop_app PORT

It takes the same body as ingest's POST /v1/feedback into a plain pydantic model (fields of
the bench's survey item, no custom validators), checks an X-API-Key header and answers 202
with a small JSON body. It is served as ingest is (feedloop.common.serving.server_options:
uvicorn with uvloop and httptools, one worker, proxy headers, no log config), so the ratio
of ingest to it is what ingest's own work costs on top of the framework.
"""

import sys
from typing import Annotated, Any

import uvicorn
from fastapi import FastAPI, Header, HTTPException
from feedloop.common.responses import FastJSONResponse
from feedloop.common.serving import server_options
from feedloop.common.settings import ServiceSettings
from pydantic import BaseModel


class NoopCustomer(BaseModel):
    """The customer part of a bench item."""

    id: str
    email: str | None = None
    tier: str | None = None


class NoopAnswer(BaseModel):
    """One survey answer."""

    metric: str
    score: int


class NoopItem(BaseModel):
    """The bench's survey item as a plain model: the framework's parsing, none of ours."""

    channel: str
    source_system: str
    external_id: str
    customer: NoopCustomer
    text: str = ""
    locale: str | None = None
    occurred_at: str
    answers: list[NoopAnswer] = []
    metadata: dict[str, Any] = {}


app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)


@app.post("/v1/feedback", status_code=202)
async def accept(
    item: NoopItem, api_key: Annotated[str | None, Header(alias="X-API-Key")] = None
) -> FastJSONResponse:
    """Answers 202 without doing anything with the item."""
    if not api_key:
        raise HTTPException(401)
    return FastJSONResponse(
        {"feedback_id": item.external_id, "status": "accepted"}, status_code=202
    )


def main() -> None:
    """Serves the app on loopback at the port given."""
    settings = ServiceSettings(host="127.0.0.1", port=int(sys.argv[1]))
    uvicorn.run(app, **server_options(settings))


if __name__ == "__main__":
    main()
