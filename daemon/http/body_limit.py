"""A cap on request bodies, applied before anything reads them.

Without one, each request's whole body was read into memory before its signature or token
was checked: twenty 50 MB posts to `/slack/actions` took the daemon from 320 MB to 1.24 GB,
which the allocator then kept. Warden's endpoints take small bodies:

- `MAX_BODY_BYTES` (64 KiB) everywhere, such as the approval API, whose body is a name and
  a reason;
- `MAX_SLACK_BODY_BYTES` (256 KiB) for Slack's request URL, because Slack's `block_actions`
  payload echoes the whole message that was clicked. The largest incident message Warden
  draws makes a payload of about 17 KiB in ASCII, 33 KiB when its text is all `<` (escaped
  twice, as `&lt;` then URL-encoded) and 118 KB when it is all CJK (9 bytes a character
  URL-encoded); the cap leaves room for what Slack adds (state, container, enterprise).

- `MAX_LINEAGE_BODY_BYTES` (1 MiB) for OpenLineage run events (`POST /api/lineage`),
  whose facets may carry a schema or column lineage.

`BodyLimit` refuses a larger body with 413:

- at once, without reading it, when `Content-Length` says so (or is not a number);
- otherwise (chunked transfer) while it streams: bytes are counted as the app receives them,
  and the read that crosses the cap raises a 413 `HTTPException` instead of returning them.
  The app never holds more than the cap plus one chunk.

uvicorn reads and drops what the client still sends after the answer, or closes the
connection; either way none of it is kept.
"""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: The largest request body Warden reads, in bytes (64 KiB)...
MAX_BODY_BYTES = 64 * 1024
#: ...but for Slack's interactions, which carry the message clicked (256 KiB).
MAX_SLACK_BODY_BYTES = 256 * 1024
#: ...and for OpenLineage run events, whose facets (schemas, column lineage) run long.
MAX_LINEAGE_BODY_BYTES = 1024 * 1024
#: Paths with their own cap.
PATH_LIMITS = {"/slack/actions": MAX_SLACK_BODY_BYTES, "/api/lineage": MAX_LINEAGE_BODY_BYTES}


class BodyLimit:
    """ASGI middleware: 413 for an HTTP request whose body is larger than its path's cap
    (`path_limits`, else `max_bytes`)."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int = MAX_BODY_BYTES,
        path_limits: dict[str, int] | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.path_limits = PATH_LIMITS if path_limits is None else path_limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.path_limits.get(scope.get("path", ""), self.max_bytes)
        declared = _content_length(scope)
        if declared is not None and not (declared.isdigit() and int(declared) <= limit):
            await _too_large(send, limit)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, _detail(limit))
            return message

        await self.app(scope, counted, send)


def _content_length(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return str(value.decode("latin-1")).strip()
    return None


def _detail(max_bytes: int) -> str:
    return f"the request body is larger than {max_bytes} bytes"


async def _too_large(send: Send, max_bytes: int) -> None:
    body = b'{"detail":"' + _detail(max_bytes).encode() + b'"}'
    headers: list[Any] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        # The body is left unread: the connection cannot carry another request.
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
