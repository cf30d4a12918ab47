"""Follow-up answers (survey feedback naming an issue) give the issue its confirmation rate."""

from typing import Any

from aiokafka import AIOKafkaProducer
from feedloop.common.events import FeedbackEnriched

from tests.support.clients import AppClient, send_all
from tests.support.polling import eventually

from .factory import enriched, record


def answer(external_id: str, customer: str, issue_id: str, said: str, text: str = "") -> Any:
    """The enriched survey feedback notify's follow-up route produces."""
    base = enriched(
        external_id,
        customer=customer,
        label="positive" if said == "yes" else "negative",
        score=0.5 if said == "yes" else -0.5,
        text=text,
        answers=[
            {
                "metric": "csat",
                "score": 2 if said == "yes" else 1,
                "scale_min": 1,
                "scale_max": 2,
                "method": "top_box",
            }
        ],
    )
    data = base.model_dump(mode="json")
    data["item"]["metadata"] = {"followup_issue_id": issue_id, "followup_answer": said}
    return FeedbackEnriched.model_validate(data)


async def test_the_confirmation_rate_counts_yes_among_the_answers(
    app_client: AppClient, sqlite_url: str, raw_producer: AIOKafkaProducer, topic_prefix: str
) -> None:
    async with app_client(sqlite_url) as client:
        await send_all(raw_producer, [record(enriched("a1"), prefix=topic_prefix)])

        async def one_issue() -> Any:
            return (await client.get("/v1/issues")).json()["items"]

        issue_id = (await eventually(one_issue))[0]["id"]
        answers = [
            answer("y1", "c-1", issue_id, "yes"),
            answer("y2", "c-2", issue_id, "yes"),
            answer("n1", "c-3", issue_id, "no", text="Still runs small."),
            answer("x1", "c-4", "another-issue", "no"),
        ]
        await send_all(raw_producer, [record(a, prefix=topic_prefix) for a in answers])

        async def counted() -> Any:
            body = (await client.get(f"/v1/issues/{issue_id}/followup")).json()
            return body if body["answers"] == 3 else None

        summary = await eventually(counted)
        missing = await client.get("/v1/issues/nope/followup")
        resolved = await client.patch(
            f"/v1/issues/{issue_id}",
            json={"status": "resolved", "resolution_message": "Fixed the size chart."},
        )
        assert resolved.status_code == 200, resolved.text
        impact = (await client.get(f"/v1/kpis/issues/{issue_id}/impact")).json()
    # The impact report shows the follow-up answers beside the before/after complaint rates.
    assert impact["followup"]["answers"] == 3 and impact["followup"]["yes"] == 2, impact
    assert "rate_before" in impact
    assert summary, "three answers about the issue"
    assert (summary["yes"], summary["no"]) == (2, 1)
    assert abs(summary["confirmation_rate"] - 2 / 3) < 1e-9
    assert [(c["answer"], c["text"]) for c in summary["comments"]] == [("no", "Still runs small.")]
    assert missing.status_code == 404
