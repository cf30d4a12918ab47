"""A JSON response rendered by orjson (FastAPI deprecated its own FastJSONResponse)."""

from typing import Any

import orjson
from starlette.responses import JSONResponse


class FastJSONResponse(JSONResponse):
    """Renders content with orjson: datetimes, UUIDs and dataclasses included."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)
