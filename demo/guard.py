"""A gate in front of Gradio's API: a request may name only files it uploaded.

Gradio passes files to a function as ``{"path": ...}`` objects. A browser or gradio_client first
uploads the file, then names the path the upload returned, inside the upload folder. A hand-made
request could name any other path (or a URL for the server to fetch), and Gradio would copy what
it finds there into its cache before the function sees it. This middleware refuses such requests
before Gradio reads them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY = 5_000_000  # JSON bodies of API calls; files travel through /upload, not here
CHECKED_PREFIX = "/gradio_api/"
MESSAGE = "That file did not come from an upload. Please upload it again."


class UploadGuard:
    def __init__(self, app: ASGIApp, upload_roots: list[Path]) -> None:
        self.app = app
        self.roots = [Path(root).resolve() for root in upload_roots]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or scope["method"] != "POST" or not path.startswith(CHECKED_PREFIX) or path.endswith("/upload"):
            await self.app(scope, receive, send)
            return
        body, too_big = await _read(receive)
        if too_big or not self._allowed(body):
            status, detail = (413, "The request is too large.") if too_big else (403, MESSAGE)
            await _respond(send, status, {"error": detail})
            return
        await self.app(scope, _replay(body, receive), send)

    def _allowed(self, body: bytes) -> bool:
        try:
            payload = json.loads(body) if body else None
        except ValueError:
            return True  # not JSON: Gradio itself will refuse it
        return all(self._inside(named) for named in _named_files(payload))

    def _inside(self, named: str) -> bool:
        if "://" in named:
            return False  # the server never fetches a URL on a caller's behalf
        resolved = Path(named).resolve()
        return any(resolved.is_relative_to(root) for root in self.roots)


def _named_files(value: Any) -> Iterator[str]:
    """The ``path`` of every file object anywhere in a JSON payload (its ``url`` is only for display)."""
    if isinstance(value, dict):
        is_file = value.get("meta", {}).get("_type") == "gradio.FileData" or "orig_name" in value
        if is_file and isinstance(value.get("path"), str):
            yield value["path"]
        for item in value.values():
            yield from _named_files(item)
    elif isinstance(value, list):
        for item in value:
            yield from _named_files(item)


async def _read(receive: Receive) -> tuple[bytes, bool]:
    body, more = b"", True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
        if len(body) > MAX_BODY:
            return b"", True
    return body, False


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _respond(send: Send, status: int, content: dict[str, str]) -> None:
    body = json.dumps(content).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})
