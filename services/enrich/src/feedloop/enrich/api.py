"""Routes of the enrich API: analyse texts as the stage would (debugging, quality reports)."""

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from feedloop.common.auth import ApiClient
from feedloop.common.problems import AUTHENTICATED, Problem, problem_responses
from feedloop.enrich.pii import redact
from feedloop.enrich.schemas import AnalysedText, AnalyseRequest, AnalyseResponse
from feedloop.enrich.service import Enricher
from feedloop.enrich.settings import SCOPE_ANALYSE, EnrichSettings

router = APIRouter(prefix="/v1", tags=["analysis"])


async def authorised(request: Request) -> ApiClient:
    """Demands a valid API key with the analyse scope."""
    client: ApiClient = await request.app.state.auth.require(SCOPE_ANALYSE)(request)
    return client


def loaded_enricher(request: Request) -> Enricher:
    """Returns the loaded models, or 503 while they load."""
    enricher: Enricher | None = request.app.state.enricher
    if enricher is None:
        raise Problem(503, "Service unavailable", "the models are still loading")
    return enricher


ClientDep = Annotated[ApiClient, Depends(authorised)]
EnricherDep = Annotated[Enricher, Depends(loaded_enricher)]


@router.post(
    "/analyse",
    summary="Redact and analyse texts (no Kafka)",
    responses=problem_responses(
        *AUTHENTICATED,
        413,
        503,
        descriptions={413: "Too many texts", 503: "The models are still loading"},
    ),
)
async def analyse(
    body: AnalyseRequest, request: Request, client: ClientDep, enricher: EnricherDep
) -> AnalyseResponse:
    """Returns sentiment, themes, language, PII counts (and vectors) of each text."""
    del client
    settings: EnrichSettings = request.app.state.settings
    if len(body.texts) > settings.analyse_max_texts:
        raise Problem(
            413,
            "Too many texts",
            f"at most {settings.analyse_max_texts} texts per request",
            field="texts",
        )
    redactions = [redact(text) for text in body.texts]
    documents = [enricher.document(r.text, pii=r.counts) for r in redactions]
    enrichments = await asyncio.to_thread(enricher.analyse, documents, source="api")
    results = [
        AnalysedText(
            text=r.text,
            enrichment=e if body.include_embedding else e.model_copy(update={"embedding": []}),
        )
        for r, e in zip(redactions, enrichments, strict=True)
    ]
    return AnalyseResponse(results=results)
