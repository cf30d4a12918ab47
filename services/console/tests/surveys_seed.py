"""Solicit behind the console's Surveys page: a real solicit app (SQLite, the loop's broker),
a webhook program whose calls the loop's sink takes, touchpoints reported and some answered
through the hosted survey page over HTTP, as customers would."""

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import yaml
from feedloop.common.links import LinkSigner, parse_link_keys
from feedloop.solicit.app import create_app
from feedloop.solicit.settings import SolicitSettings
from starlette.types import ASGIApp

from tests.support.keys import TEST_API_KEY, api_keys_json
from tests.support.polling import eventually

LINK_KEYS = orjson.dumps({"c1": base64.b64encode(b"console-survey-key-32-bytes-long").decode()})
PROGRAM = "post-delivery-nps"
INVITED = 6
ANSWERS = {0: 10, 1: 9, 2: 10, 3: 4}
"""Customer index: NPS score; the others do not answer."""


def solicit_app(folder: Path, sink_url: str, secret: str, common: dict[str, Any]) -> ASGIApp:
    """Solicit asking after each delivery at once, in-app (a webhook to the loop's sink)."""
    programs = {
        "fatigue_days": 30,
        "programs": [
            {
                "id": PROGRAM,
                "trigger": "order.delivered",
                "survey": {"metric": "nps"},
                "channel": "webhook",
            }
        ],
    }
    (folder / "programs.yaml").write_text(yaml.safe_dump(programs))
    settings = SolicitSettings(
        **common
        | {
            "api_keys": api_keys_json("touchpoints:write", "surveys:read"),
            "database_url": f"sqlite+aiosqlite:///{folder}/solicit.db",
            "programs_file": str(folder / "programs.yaml"),
            "link_keys": LINK_KEYS.decode(),
            "webhooks": {"shop": f"{sink_url}/surveys/shop"},
            "webhook_signing_secret": secret,
            "consumer_group": common["kafka_topic_prefix"] + "feedloop-solicit",
            "send_poll_s": 0.05,
            "answer_settle_s": 0,
        }
    )
    return create_app(settings)


async def answered_surveys(solicit_url: str) -> None:
    """Reports INVITED deliveries (two segments), waits until sent, answers some by HTTP."""
    now = datetime.now(UTC)
    items = [
        {
            "source_system": "shop",
            "touchpoint_id": f"delivery-{n}",
            "type": "order.delivered",
            "occurred_at": (now - timedelta(minutes=5)).isoformat(),
            "customer": {"id": f"c-survey-{n}", "segment": "b2c" if n % 2 else "b2b"},
        }
        for n in range(INVITED)
    ]
    signer = LinkSigner(parse_link_keys(LINK_KEYS.decode()))
    async with httpx.AsyncClient(
        base_url=solicit_url, headers={"X-API-Key": TEST_API_KEY}, timeout=30
    ) as api:
        posted = (await api.post("/v1/touchpoints/batch", json={"items": items})).json()
        invitations = [d["invitation_id"] for item in posted["items"] for d in item["decisions"]]
        assert len(invitations) == INVITED, posted

        async def all_sent() -> bool:
            rates = (await api.get("/v1/response-rates")).json()
            return bool(rates["total"]["sent"] == INVITED)

        await eventually(all_sent, what="the survey invitations sent")
        for n, score in ANSWERS.items():
            token = signer.sign(purpose="survey", subject=invitations[n], ttl_s=3600)
            async with httpx.AsyncClient(base_url=solicit_url) as customer:
                assert (await customer.get(f"/s/{token}")).status_code == 200
                answer = await customer.post(f"/s/{token}", data={"score": str(score)})
                assert answer.status_code == 200, answer.text
