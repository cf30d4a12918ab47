"""A request body limit enforced before anything reads the body, as a pure ASGI middleware.

It sits outside routing, so it runs before API-key authentication and before FastAPI parses
a body: an unauthenticated client cannot make a service buffer more than `max_bytes`.
"""

from feedloop.common.problems import Problem, problem_response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_DISCONNECT: Message = {"type": "http.disconnect"}


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers") or ():
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


class BodySizeLimit:
    """Answers 413 problem+json when a body exceeds `max_bytes`, declared or streamed.

    A declared Content-Length over the limit is refused before the body is read. A streamed
    body is counted chunk by chunk; at the first byte over the limit the 413 is sent at once
    and the app sees a disconnected client, so nothing buffers the rest.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._reject(scope, receive, send)
            return
        seen = 0
        started = False
        refused = False

        async def limited_receive() -> Message:
            nonlocal seen, refused
            if refused:
                return _DISCONNECT
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    refused = True
                    if not started:
                        await self._reject(scope, receive, send)
                    return _DISCONNECT
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the client has its 413; what the app answers after is dropped
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except Exception:
            # The app may fail on the disconnect we fed it; the client was already answered.
            if not refused:
                raise

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(
            Problem(
                413,
                "Payload too large",
                f"the request body exceeds {self.max_bytes} bytes",
                field="(body)",
                max_bytes=self.max_bytes,
            ),
            scope.get("path"),
        )
        await response(scope, receive, send)
