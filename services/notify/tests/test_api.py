"""The notify API: keys and scopes, lookups by feedback item and customer, problem answers."""

from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from feedloop.common.auth import hash_key

from tests.support.clients import AppClient, send_all
from tests.support.polling import eventually
from tests.support.receivers import WebhookReceiver

from .conftest import notifications_of
from .factory import issue, linked, records, systems

KEYS = orjson.dumps(
    [
        {
            "client_id": "support-ui",
            "key_sha256": hash_key("reader"),
            "scopes": ["notifications:read"],
        },
        {
            "client_id": "privacy-desk",
            "key_sha256": hash_key("writer"),
            "scopes": ["notifications:read", "notifications:admin"],
        },
        {
            "client_id": "console",
            "key_sha256": hash_key("ordinary"),
            "scopes": ["notifications:read", "notifications:write"],
        },
    ]
).decode()


async def test_reading_needs_a_key_and_opt_out_and_erasure_need_their_admin_scopes(
    app_client: AppClient, sqlite_url: str
) -> None:
    async with app_client(sqlite_url, api_keys=KEYS, consume=False, send=False) as client:
        anonymous = await client.get("/v1/notifications", headers={"X-API-Key": ""})
        wrong = await client.get("/v1/notifications", headers={"X-API-Key": "nope"})
        reader = {"X-API-Key": "reader"}
        listed = await client.get("/v1/notifications", headers=reader)
        refused = await client.delete("/v1/customers/c1", headers=reader)
        opt_out = {"opted_out": {"email": True}}
        refused_put = await client.put("/v1/customers/c1/preferences", json=opt_out, headers=reader)
        ordinary = {"X-API-Key": "ordinary"}
        ordinary_put = await client.put(
            "/v1/customers/c1/preferences", json=opt_out, headers=ordinary
        )
        ordinary_resend = await client.post("/v1/notifications/n1/resend", headers=ordinary)
        ordinary_erase = await client.delete("/v1/customers/c1", headers=ordinary)
        allowed = await client.put(
            "/v1/customers/c1/preferences", json=opt_out, headers={"X-API-Key": "writer"}
        )
    assert (anonymous.status_code, wrong.status_code) == (401, 401)
    assert anonymous.headers["content-type"] == "application/problem+json"
    assert listed.status_code == 200 and listed.json()["total"] == 0
    assert (refused.status_code, refused_put.status_code) == (403, 403)
    assert refused.json()["required_scope"] == "customers:erase"
    assert [r.json()["required_scope"] for r in (ordinary_put, ordinary_resend)] == [
        "notifications:admin",
        "notifications:admin",
    ]
    assert ordinary_erase.json()["required_scope"] == "customers:erase"
    assert allowed.status_code == 200 and allowed.json()["opted_out"]["email"] is True


async def test_notifications_are_found_by_feedback_item_and_by_customer(
    app_client: AppClient,
    sqlite_url: str,
    receiver: WebhookReceiver,
    raw_producer: AIOKafkaProducer,
    topic_prefix: str,
) -> None:
    events = [
        linked("f1", "i1", "c1", nps=1),
        linked("f2", "i2", "c1"),
        linked("f3", "i2", "c2"),
        issue("i2", 1, "resolved", message="Fixed."),
    ]
    async with app_client(sqlite_url, source_systems=systems(receiver, "shop")) as client:
        await send_all(raw_producer, records(events, topic_prefix))

        async def all_delivered() -> list[dict[str, Any]]:
            items = await notifications_of(client)
            return items if len(items) == 3 and all(i["outcome"] for i in items) else []

        await eventually(all_delivered)
        of_feedback = (await client.get("/v1/feedback/f1/notifications")).json()
        of_customer = (await client.get("/v1/customers/c1/notifications")).json()
        page = (await client.get("/v1/customers/c1/notifications", params={"limit": 1})).json()
        one = (await client.get(f"/v1/notifications/{of_feedback['items'][0]['id']}")).json()
        missing = await client.get("/v1/notifications/nope")
        not_failed = await client.post(f"/v1/notifications/{one['id']}/resend")
        bad_channel = await client.put(
            "/v1/customers/c1/preferences", json={"opted_out": {"pigeon": True}}
        )
    assert [(i["kind"], i["outcome"]) for i in of_feedback["items"]] == [
        ("acknowledgement", "delivered")
    ]
    assert sorted((i["feedback_id"], i["kind"]) for i in of_customer["items"]) == [
        ("f1", "acknowledgement"),
        ("f2", "resolution"),
    ]
    assert (page["total"], len(page["items"])) == (2, 1)
    assert one["channel"] == "webhook" and one["attempts"] == 1 and one["delivered_at"]
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert (missing.json()["title"], missing.json()["type"].rsplit("/", 1)[-1]) == (
        "Not found",
        "not-found",
    )
    assert not_failed.status_code == 409
    assert not_failed.headers["content-type"].startswith("application/problem+json")
    assert not_failed.json()["title"] == "Not failed"
    assert not_failed.json()["type"].endswith("/not-failed")
    assert not_failed.json()["outcome"] == "delivered"
    assert bad_channel.status_code == 422
