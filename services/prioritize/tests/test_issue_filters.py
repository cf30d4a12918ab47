"""GET /v1/issues?tier=...&language=...: issues with feedback of those tiers and languages."""

import random
from typing import Any

from feedloop.prioritize.migrate import upgrade
from feedloop.prioritize.models import feedback_t, issue_t

from tests.support.clients import AppClient
from tests.support.seeding import seed_store

from .test_kpi_rollup import START, _row


def _issue(issue_id: str, score: float) -> dict[str, Any]:
    return {
        "id": issue_id,
        "version": 1,
        "title": f"issue {issue_id}",
        "theme": "sizing",
        "status": "new",
        "owner": None,
        "planned_action": None,
        "resolution_message": None,
        "effort": None,
        "is_pattern": True,
        "severity": "medium",
        "priority_score": score,
        "priority": {"score": score, "factors": []},
        "stats": {},
        "feedback_count": 0,
        "distinct_customers": 0,
        "centroid": b"",
        "first_seen": START,
        "last_seen": START,
        "created_at": START,
        "updated_at": START,
        "resolved_at": None,
        "merged_into": None,
    }


def _feedback(i: int, issue_id: str, tier: str | None, language: str | None) -> dict[str, Any]:
    row = _row(random.Random(i), i) | {"issue_id": issue_id, "tier": tier}
    row["enrichment"] = {"language": {"code": language, "confidence": 0.9}} if language else {}
    return row


async def test_issues_filter_by_their_feedback_tier_and_language(
    app_client: AppClient, database_url: str
) -> None:
    # i-gold-de: gold/de feedback; i-std-en: standard/en; i-mixed: gold/en and none/none.
    feedback = [
        _feedback(1, "i-gold-de", "gold", "de"),
        _feedback(2, "i-std-en", "standard", "en"),
        _feedback(3, "i-mixed", "gold", "en"),
        _feedback(4, "i-mixed", None, None),
    ]
    issues = [_issue("i-gold-de", 3.0), _issue("i-std-en", 2.0), _issue("i-mixed", 1.0)]
    await seed_store(database_url, upgrade, [(feedback_t, feedback), (issue_t, issues)])
    async with app_client(database_url, consume=False) as client:

        async def ids(**params: Any) -> list[str]:
            response = await client.get("/v1/issues", params=params)
            assert response.status_code == 200, response.text
            page = response.json()
            assert page["total"] == len(page["items"])
            return [item["id"] for item in page["items"]]

        assert await ids() == ["i-gold-de", "i-std-en", "i-mixed"]
        assert await ids(tier="gold") == ["i-gold-de", "i-mixed"]
        assert await ids(tier=["gold", "standard"]) == ["i-gold-de", "i-std-en", "i-mixed"]
        assert await ids(language="en") == ["i-std-en", "i-mixed"]
        assert await ids(tier="gold", language="en") == ["i-mixed"]
        assert await ids(tier="unknown") == ["i-mixed"]  # feedback without a tier
        assert await ids(language="fr") == []
        assert await ids(channel=feedback[1]["channel"], tier="standard") == ["i-std-en"]
        refused = await client.get("/v1/issues", params={"tier": "x" * 201})
        assert refused.status_code == 422
        assert refused.headers["content-type"].startswith("application/problem+json")
