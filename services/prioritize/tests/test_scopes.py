"""Resolving an issue mails every linked customer, so it needs a scope of its own."""

import orjson
from feedloop.common.auth import hash_key

from tests.support.clients import AppClient

KEYS = orjson.dumps(
    [
        {"client_id": "console", "key_sha256": hash_key("writer"), "scopes": ["issues:write"]},
        {
            "client_id": "owners",
            "key_sha256": hash_key("resolver"),
            "scopes": ["issues:write", "issues:resolve"],
        },
    ]
).decode()


async def test_resolving_needs_the_resolve_scope_but_other_changes_do_not(
    app_client: AppClient, sqlite_url: str
) -> None:
    resolve = {"status": "resolved", "resolution_message": "Fixed."}
    async with app_client(sqlite_url, api_keys=KEYS, consume=False) as client:
        refused = await client.patch(
            "/v1/issues/missing", json=resolve, headers={"X-API-Key": "writer"}
        )
        owner = await client.patch(
            "/v1/issues/missing", json={"owner": "ana"}, headers={"X-API-Key": "writer"}
        )
        resolver = await client.patch(
            "/v1/issues/missing", json=resolve, headers={"X-API-Key": "resolver"}
        )
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["required_scope"] == "issues:resolve"
    # Past the scope check: the issue does not exist.
    assert (owner.status_code, resolver.status_code) == (404, 404)
