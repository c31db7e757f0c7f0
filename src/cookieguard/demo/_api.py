"""The demo's JSON API: GET and POST /api/records.

Authentication is the session cookie; POST needs the CSRF token in the ``X-CSRFToken``
header (the CSRF middleware checks it before this code runs). The body is read with
``await request.json()``: `BodyLimitMiddleware` (see `app.BODY_LIMITS`) has already bounded
it, so nothing larger than `MAX_BODY` is ever buffered. Every malformed body gets a 400 with
``{"error": ...}``, never a 500.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from cookieguard import get_user_id
from cookieguard.demo._db import MAX_RECORD_LENGTH, DemoDatabase, validate_record_text

MAX_BODY = 16 * MAX_RECORD_LENGTH
"""Largest JSON body accepted: room for 10,000 characters even when all are ``\\u`` escapes."""


def json_error(message: str, status: int) -> JSONResponse:
    """``{"error": message}`` with `status`."""
    return JSONResponse({"error": message}, status_code=status)


def current_user_id(request: Request) -> str:
    """The logged-in user's id in an endpoint wrapped in `requires_login`."""
    # Endpoints below are wrapped in `requires_login`: anonymous requests never get here.
    user_id = get_user_id(request)
    assert user_id is not None
    return user_id


class RecordsAPI:
    """GET/POST /api/records over the demo database."""

    def __init__(self, db: DemoDatabase) -> None:
        self.db = db

    async def list(self, request: Request) -> JSONResponse:
        """This user's records, oldest first: ``[{"id": 1, "text": "..."}]``."""
        rows = await self.db.records(current_user_id(request))
        # Exactly the contract's two keys: the date is shown on the HTML page only.
        return JSONResponse([{"id": row.id, "text": row.text} for row in rows])

    async def add(self, request: Request) -> JSONResponse:
        """Add a record from ``{"text": "..."}``; 201 with the stored record."""
        user_id = current_user_id(request)
        try:
            payload = await request.json()
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
        return JSONResponse({"id": record_id, "text": text}, status_code=201)
