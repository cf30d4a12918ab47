"""Routes of the ingest API: one item, or a batch answered per item."""

import json
from collections.abc import Callable
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from feedloop.common.auth import ApiClient
from feedloop.common.events import utcnow
from feedloop.common.feedback import CHANNEL_MODELS, FeedbackItem
from feedloop.common.problems import AUTHENTICATED, Problem, problem_responses
from feedloop.common.responses import FastJSONResponse
from feedloop.ingest.deps import auth_write, ingestor_of, settings_of
from feedloop.ingest.schemas import (
    BatchResult,
    FeedbackAccepted,
    FeedbackBatchCreate,
    FieldError,
)
from feedloop.ingest.service import (
    REJECTED,
    NotAcknowledged,
    admit_batch,
    door_errors,
    fingerprint,
    item_result,
    summarise,
    validate_item,
)
from pydantic import BaseModel, TypeAdapter, ValidationError

router = APIRouter(prefix="/v1", tags=["feedback"])

_ITEM_SCHEMA = {
    "oneOf": [{"$ref": f"#/components/schemas/{m.__name__}"} for m in CHANNEL_MODELS.values()],
    "discriminator": {
        "propertyName": "channel",
        "mapping": {
            c.value: f"#/components/schemas/{m.__name__}" for c, m in CHANNEL_MODELS.items()
        },
    },
}

ClientDep = Annotated[ApiClient, Depends(auth_write)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="Retries with the same key and body are answered without a second record.",
    ),
]


def install_item_schemas(app: FastAPI) -> None:
    """Adds the channel models to the OpenAPI components the request bodies refer to.

    Both routes parse their bodies themselves (orjson, after authentication), so FastAPI
    never sees the models; their schemas are added here instead.
    """
    build: Callable[[], dict[str, Any]] = app.openapi
    schema = TypeAdapter(FeedbackItem).json_schema(ref_template="#/components/schemas/{model}")

    def openapi() -> dict[str, Any]:
        document = build()
        components = document.setdefault("components", {}).setdefault("schemas", {})
        for name, definition in schema.get("$defs", {}).items():
            components.setdefault(name, definition)
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(body: bytes) -> Any:
    """Parses a body with orjson (no NaN, no lone surrogates); 400 when it is not JSON.

    orjson refuses a lone surrogate escape without saying where; when the stdlib parser
    can read the body, validation names the field holding it instead.
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        try:
            return json.loads(body, parse_constant=_refuse_constant)
        except (ValueError, RecursionError):
            pass
        raise Problem(
            400, "Malformed JSON", str(exc), kind="malformed-json", field="(body)"
        ) from exc


def _invalid(errors: list[FieldError]) -> Problem:
    REJECTED.labels("validation").inc()
    first = errors[0]
    return Problem(
        422,
        "Validation failed",
        f"{first.field}: {first.message}",
        kind="validation-failed",
        field=first.field,
        errors=[e.model_dump() for e in errors],
    )


def _accept_item(raw: Any, client: ApiClient, request: Request) -> BaseModel:
    """Validates the single route's item and the door rules; raises 403 or 422 naming fields."""
    item, errors = validate_item(raw)
    if item is None:
        raise _invalid(errors)
    errors = door_errors(
        item, client=client, now=utcnow(), max_skew_s=settings_of(request).max_clock_skew_s
    )
    forbidden = [e for e in errors if e.type == "source_system_forbidden"]
    if forbidden:
        REJECTED.labels("forbidden").inc()
        raise Problem(
            403,
            "Forbidden",
            forbidden[0].message,
            field="source_system",
            errors=[forbidden[0].model_dump()],
        )
    if errors:
        raise _invalid(errors)
    return item


def _unavailable(settings_retry: int, detail: str, **extensions: Any) -> NotAcknowledged:
    REJECTED.labels("broker_unavailable").inc()
    return NotAcknowledged(detail, retry_after=settings_retry, **extensions)


def _check_key(request: Request, client: ApiClient, key: str | None, body: bytes) -> str | None:
    if key is None:
        return None
    store = ingestor_of(request).store
    digest = fingerprint(body)
    if not store.check_key(client.client_id, key, digest):
        REJECTED.labels("idempotency_conflict").inc()
        raise Problem(
            422,
            "Idempotency key reused",
            "this Idempotency-Key was used before with a different request body",
            kind="idempotency-key-reused",
            field="Idempotency-Key",
        )
    return digest


@router.post(
    "/feedback",
    status_code=202,
    response_model=FeedbackAccepted,
    summary="Submit one feedback item",
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": _ITEM_SCHEMA}}}
    },
    responses={
        200: {"model": FeedbackAccepted, "description": "Already accepted before (a retry)."},
        **problem_responses(
            400,
            *AUTHENTICATED,
            413,
            422,
            503,
            descriptions={
                400: "Malformed JSON",
                403: "Key lacks the feedback:write scope, or may not write for this source_system",
                422: "Invalid item (the problem names each field), or Idempotency-Key reused",
                503: "Kafka unavailable; retry after Retry-After seconds",
            },
        ),
    },
)
async def submit_feedback(
    request: Request,
    client: ClientDep,
    idempotency_key: IdempotencyKey = None,
) -> FastJSONResponse:
    """Accepts one item once it is durable on raw-feedback (acks=all)."""
    raw_body = await request.body()
    item = _accept_item(parse_json(raw_body), client, request)
    digest = _check_key(request, client, idempotency_key, raw_body)
    ingestor = ingestor_of(request)
    prepared = ingestor.prepare(
        0, item, client_id=client.client_id, idempotency_key=idempotency_key
    )
    outcome = (await ingestor.submit([prepared]))[0]
    if outcome == "unavailable":
        raise _unavailable(
            settings_of(request).retry_after_s,
            "Kafka did not acknowledge the item in time; nothing was accepted, retry later",
            feedback_id=prepared.feedback_id,
        )
    if idempotency_key and digest:
        ingestor.store.remember_key(client.client_id, idempotency_key, digest)
    body = FeedbackAccepted(feedback_id=prepared.feedback_id, status=outcome)
    headers = {"Location": f"/v1/feedback/{prepared.feedback_id}"}
    if outcome == "duplicate":
        headers["Idempotent-Replayed"] = "true"
    return FastJSONResponse(
        body.model_dump(), status_code=202 if outcome == "accepted" else 200, headers=headers
    )


def _parse_batch(raw_body: bytes, *, max_items: int) -> list[dict[str, Any]]:
    """Reads {"items": [...]}: 400 when not JSON, 422 when not that shape, 413 when too many."""
    raw = parse_json(raw_body)
    items = raw.get("items") if type(raw) is dict else None
    # The shape FeedbackBatchCreate describes, checked without copying every item; the model
    # itself words the 422 when the shape is wrong.
    if not (type(items) is list and items and all(type(i) is dict for i in items)):
        try:
            items = FeedbackBatchCreate.model_validate(raw).items
        except ValidationError as exc:  # not {"items": [...]}: a 422 problem, not a 500
            raise RequestValidationError(exc.errors(include_url=False)) from exc
    if len(items) > max_items:
        raise Problem(
            413,
            "Payload too large",
            f"a batch holds at most {max_items} items, got {len(items)}",
            field="items",
            max_items=max_items,
        )
    return items


@router.post(
    "/feedback/batch",
    status_code=202,
    response_model=BatchResult,
    summary="Submit many feedback items, answered per item",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["items"],
                        "properties": {
                            "items": {
                                "type": "array",
                                "minItems": 1,
                                "items": _ITEM_SCHEMA,
                            }
                        },
                    }
                }
            },
        }
    },
    responses={
        207: {"model": BatchResult, "description": "Some items were rejected; see results."},
        **problem_responses(
            400,
            *AUTHENTICATED,
            413,
            422,
            503,
            descriptions={
                400: "Malformed JSON",
                403: "Key lacks the feedback:write scope",
                413: "Body too large, or more items than a batch may hold",
                422: "Not an object with a non-empty items array, or Idempotency-Key reused",
                503: "Kafka unavailable for some items; they were not accepted",
            },
        ),
    },
)
async def submit_batch(
    request: Request, client: ClientDep, idempotency_key: IdempotencyKey = None
) -> FastJSONResponse:
    """Validates each item on its own; one bad item never sinks the others."""
    raw_body = await request.body()
    settings = settings_of(request)
    items = _parse_batch(raw_body, max_items=settings.batch_max_items)
    digest = _check_key(request, client, idempotency_key, raw_body)
    request.app.state.auth.take(client, len(items) - 1)
    ingestor = ingestor_of(request)
    rejected, admitted = admit_batch(
        items, client=client, now=utcnow(), max_skew_s=settings.max_clock_skew_s
    )
    prepared = [
        ingestor.prepare(index, item, client_id=client.client_id, idempotency_key=idempotency_key)
        for index, item in admitted.items()
    ]
    outcomes = await ingestor.submit(prepared)
    results = {p.index: item_result(p, outcomes[p.index]) for p in prepared}
    results |= {index: result.model_dump() for index, result in rejected.items()}
    summary = summarise([results[i] for i in range(len(items))])
    if summary["unavailable"]:
        raise _unavailable(
            settings.retry_after_s,
            f"{summary['unavailable']} items were not acknowledged by Kafka; retry them",
            **summary,
        )
    if idempotency_key and digest:
        ingestor.store.remember_key(client.client_id, idempotency_key, digest)
    return FastJSONResponse(summary, status_code=207 if summary["rejected"] else 202)
