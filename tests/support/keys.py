"""The API key every test harness uses: the development key is accepted in local mode only."""

import orjson
from feedloop.common.auth import hash_key

TEST_API_KEY = "fl_test_key_for_test_harnesses"
ALL_SCOPES = (
    "feedback:write",
    "enrich:analyse",
    "issues:read",
    "issues:write",
    "issues:resolve",
    "notifications:read",
    "notifications:write",
    "notifications:admin",
    "customers:erase",
    "customers:export",
    "audit:read",
)


def api_keys_json(*scopes: str) -> str:
    """JSON for a service's API_KEYS setting: the test key with the given (or every) scope."""
    client = {
        "client_id": "tests",
        "key_sha256": hash_key(TEST_API_KEY),
        "scopes": list(scopes or ALL_SCOPES),
    }
    return orjson.dumps([client]).decode()
