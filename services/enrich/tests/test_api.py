"""The enrich HTTP API: analyse without Kafka, health, readiness and metrics."""

import asyncio

import pytest

from tests.support.clients import AppClient

pytestmark = pytest.mark.kafka


async def test_analyse_returns_redacted_text_with_sentiment_themes_and_language(
    app_client: AppClient,
) -> None:
    texts = [
        "Love the fabric, but the delivery was awful and took two weeks. Mail me: ann@example.org",
        "Die Hose ist viel zu klein, die Größe passt überhaupt nicht.",
    ]
    async with app_client(consume=False) as client:
        response = await client.post("/v1/analyse", json={"texts": texts})
    assert response.status_code == 200, response.text
    first, second = response.json()["results"]
    assert first["text"].endswith("Mail me: [EMAIL]")
    assert first["enrichment"]["pii"]["counts"] == {"email": 1}
    themes = {t["theme"]: t for t in first["enrichment"]["themes"]}
    assert themes["delivery"]["sentiment"]["label"] == "negative"
    assert themes["quality"]["sentiment"]["label"] == "positive"
    assert first["enrichment"]["language"]["code"] == "en"
    assert first["enrichment"]["embedding"] == []
    assert second["enrichment"]["primary_theme"] == "sizing_fit"
    assert second["enrichment"]["language"]["code"] == "de"


async def test_analyse_returns_unit_vectors_when_asked(app_client: AppClient) -> None:
    async with app_client(consume=False) as client:
        response = await client.post(
            "/v1/analyse", json={"texts": ["Fast delivery."], "include_embedding": True}
        )
    (result,) = response.json()["results"]
    vector = result["enrichment"]["embedding"]
    assert len(vector) == 512  # USE-m3
    assert sum(v * v for v in vector) == pytest.approx(1.0, abs=1e-3)


async def test_analyse_refuses_a_request_without_a_valid_key(app_client: AppClient) -> None:
    async with app_client(consume=False) as client:
        missing = await client.post(
            "/v1/analyse", json={"texts": ["hi"]}, headers={"X-API-Key": ""}
        )
        wrong = await client.post(
            "/v1/analyse", json={"texts": ["hi"]}, headers={"X-API-Key": "no"}
        )
    assert missing.status_code == 401
    assert wrong.status_code == 401


async def test_analyse_refuses_more_texts_than_allowed(app_client: AppClient) -> None:
    async with app_client(consume=False, analyse_max_texts=2) as client:
        response = await client.post("/v1/analyse", json={"texts": ["a", "b", "c"]})
    assert response.status_code == 413


async def test_ready_once_models_are_loaded_kafka_answers_and_the_consumer_runs(
    app_client: AppClient,
) -> None:
    async with app_client() as client:
        health = await client.get("/healthz")
        # Ready after the consumer's first poll has returned (it joins the group first).
        for _ in range(200):
            ready = await client.get("/readyz")
            if ready.status_code == 200:
                break
            await asyncio.sleep(0.1)
    assert health.status_code == 200
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"models": True, "kafka": True, "consumer": True}


async def test_not_ready_once_the_consumer_has_stopped(app_client: AppClient) -> None:
    async with app_client() as client:
        await client.app.state.consumer.stop()  # type: ignore[attr-defined]
        ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["consumer"] is False


async def test_api_only_mode_is_ready_without_a_consumer(app_client: AppClient) -> None:
    async with app_client(consume=False) as client:
        ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"models": True}


async def test_metrics_show_inference_time_per_model_and_items_analysed(
    app_client: AppClient,
) -> None:
    async with app_client(consume=False) as client:
        await client.post("/v1/analyse", json={"texts": ["The zip broke after a day."]})
        metrics = (await client.get("/metrics")).text
    assert 'feedloop_enrich_inference_seconds_bucket{le="0.001",model="sentiment"}' in metrics
    assert 'feedloop_enrich_inference_seconds_count{model="embedding"}' in metrics
    assert 'feedloop_enrich_items_total{source="api"}' in metrics
