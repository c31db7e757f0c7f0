"""Fixtures of the ASGI driver tests; every async test runs on asyncio's loop and on uvloop
(see tests/loops.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from tests import loops
from tests.asgi.csrf_site import BASE, make_app

pytest_asyncio_loop_factories = loops.pytest_asyncio_loop_factories


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client on the CSRF test site, with ``/webhooks/in`` an exempt path."""
    transport = httpx.ASGITransport(app=make_app(exempt_paths=["/webhooks/in"]))
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as c:
        yield c
