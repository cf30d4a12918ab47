"""Schemathesis against a live ingest: no 5xx, every response as the OpenAPI document says."""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case

from .conftest import API_KEY, EXAMPLES, RESPONSE_CHECKS, committed_document, with_problem_errors

schema = schemathesis.openapi.from_dict(with_problem_errors(committed_document("ingest")))

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


@schema.parametrize()
@settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
)
def test_ingest_answers_generated_requests_without_5xx_and_as_documented(
    case: Case, live_ingest: str
) -> None:
    case.call_and_validate(
        base_url=live_ingest,
        headers={"X-API-Key": API_KEY},
        checks=RESPONSE_CHECKS,
        timeout=20,
    )
