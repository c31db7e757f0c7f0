"""The demo's JSON API: GET and POST /api/records.

Authentication is the session cookie; POST needs the CSRF token in the ``X-CSRFToken``
header (the CSRF middleware checks it before this code runs). Every malformed body gets a
400 with ``{"error": ...}``, never a 500.
"""

from __future__ import annotations

import json

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from cookieguard.auth.login import get_user_id
from cookieguard.demo.db import MAX_RECORD_LENGTH, DemoDatabase, validate_record_text

MAX_BODY = 16 * MAX_RECORD_LENGTH
"""Largest JSON body read: room for 10,000 characters even when all are ``\\u`` escapes."""

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_JSON = "application/json"


def json_error(message: str, status: int) -> Response:
    """``{"error": message}`` with `status`."""
    return Response(_encode({"error": message}), status_code=status, media_type=_JSON)


async def _read_body(request: Request) -> bytes | None:
    """The body, or None once it grows past `MAX_BODY` (nothing more is buffered).

    Reads the ASGI messages directly: cheaper than `Request.stream()` on this hot path.
    """
    receive = request.receive
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


class RecordsAPI:
    """GET/POST /api/records over the demo database."""

    def __init__(self, db: DemoDatabase) -> None:
        self.db = db

    async def list(self, request: Request) -> Response:
        """This user's records, oldest first: ``[{"id": 1, "text": "..."}]``."""
        user_id = get_user_id(request)
        assert user_id is not None  # wrapped in `requires_login`
        rows = await self.db.records(user_id)
        return Response(
            _encode([{"id": row_id, "text": text} for row_id, text in rows]), media_type=_JSON
        )

    async def add(self, request: Request) -> Response:
        """Add a record from ``{"text": "..."}``; 201 with the stored record."""
        user_id = get_user_id(request)
        assert user_id is not None  # wrapped in `requires_login`
        try:
            body = await _read_body(request)
        except ClientDisconnect:
            return json_error("request body incomplete", 400)
        if body is None:
            return json_error(f"body larger than {MAX_BODY} bytes", 413)
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError):  # not UTF-8, not JSON, or absurdly nested
            return json_error("body is not valid JSON", 400)
        if not isinstance(payload, dict):
            return json_error('body must be a JSON object like {"text": "..."}', 400)
        text = payload.get("text")
        problem = validate_record_text(text)
        if problem is not None:
            return json_error(problem, 400)
        assert isinstance(text, str)
        record_id = await self.db.add_record(user_id, text)
        return Response(_encode({"id": record_id, "text": text}), status_code=201, media_type=_JSON)
