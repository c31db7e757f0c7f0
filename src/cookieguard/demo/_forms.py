"""Reading the demo's HTML forms within bounds, and telling an HTMX request from a plain one."""

from __future__ import annotations

import logging

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request

from cookieguard.demo._api import MAX_BODY as MAX_RECORD_BODY

__all__ = ["HX_VARY", "MAX_FORM_FIELDS", "form_text", "read_form", "wants_fragment"]

logger = logging.getLogger("cookieguard.demo")

MAX_FORM_FIELDS = 16
"""More fields than any demo form has; Starlette's default is 1,000."""


async def read_form(request: Request) -> FormData:
    """The request's form: text fields only, a bounded number of them.

    `BodyLimitMiddleware` already bounds the whole body per route; this refuses (400) the
    file parts no demo form has, which Starlette would otherwise spool to disk.
    """
    try:
        return await request.form(
            max_files=0, max_fields=MAX_FORM_FIELDS, max_part_size=MAX_RECORD_BODY
        )
    except HTTPException as exc:  # Starlette's 400 for a form it will not parse
        logger.warning("Bad form (%s): %s", exc.detail, ascii(request.url.path[:200]))
        raise


def form_text(form: FormData, name: str) -> str:
    """A form field as text; an absent field counts as empty."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


HX_VARY = {"vary": "HX-Request"}
"""Sent with a fragment: the same URL answers differently with and without HTMX."""


def wants_fragment(request: Request) -> bool:
    """An HTMX request from the records page: answer 200 with the section, not 303.

    A boosted form (``HX-Boosted``) wants a whole page, as without JavaScript; so does any
    other client: plain forms get the redirect the contract fixes.
    """
    headers = request.headers
    return headers.get("hx-request") == "true" and "hx-boosted" not in headers
