"""A `csrf_exempt` route the middleware's lookup cannot see fails the startup, loudly.

Before, such a route silently answered 403 to every call (its exemption was never found).
The lifespan is driven by hand here (asgi-lifespan does not know ``startup.failed``), and
once under a real uvicorn with its default ``lifespan="auto"``.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route

from cookieguard import BodyLimitMiddleware, CookieGuard, CSRFMiddleware, MemoryStore, csrf_exempt
from cookieguard.asgi._types import Message, Receive, Scope, Send


class Hidden:
    """A wrapper keeping its app under another name than ``.app``: the lookup stops here."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.inner(scope, receive, send)


@csrf_exempt
async def hook(request: Request) -> Response:
    return PlainTextResponse("hooked")


async def form(request: Request) -> Response:
    return PlainTextResponse("ok")


def site(*routes: Any) -> Starlette:
    return Starlette(routes=[Route("/form", form, methods=["POST"]), *routes])


async def startup(app: Any) -> Message:
    """Send ``lifespan.startup``; return the app's answer (then shut it down)."""
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    outbox: asyncio.Queue[Message] = asyncio.Queue()
    await inbox.put({"type": "lifespan.startup"})
    task = asyncio.create_task(app({"type": "lifespan"}, inbox.get, outbox.put))
    answer = await asyncio.wait_for(outbox.get(), 5)
    await inbox.put({"type": "lifespan.shutdown"})
    if answer["type"] == "lifespan.startup.complete":
        assert (await asyncio.wait_for(outbox.get(), 5))["type"] == "lifespan.shutdown.complete"
    await asyncio.wait_for(task, 5)
    return answer


async def post_hook(app: Any, path: str = "/hook") -> int:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return (await client.post(path)).status_code


async def test_a_hidden_route_table_fails_the_startup() -> None:
    app = CSRFMiddleware(Hidden(site(Route("/hook", hook, methods=["POST"]))))
    answer = await startup(app)
    assert answer["type"] == "lifespan.startup.failed"
    assert "'/hook'" in answer["message"] and "exempt_paths" in answer["message"]
    assert await post_hook(app) == 403  # what the check warns about


async def test_a_wrapped_mounted_app_fails_the_startup() -> None:
    inner = site(Route("/hook", hook, methods=["POST"]))
    app = CSRFMiddleware(site(Mount("/sub", app=BodyLimitMiddleware(inner))))
    answer = await startup(app)
    assert answer["type"] == "lifespan.startup.failed"
    assert "'/sub/hook'" in answer["message"]


async def test_a_visible_exempt_route_starts_and_is_exempt() -> None:
    app = CSRFMiddleware(BodyLimitMiddleware(site(Route("/hook", hook, methods=["POST"]))))
    assert (await startup(app))["type"] == "lifespan.startup.complete"
    assert await post_hook(app) == 200
    assert await post_hook(app, "/form") == 403


async def test_fastapi_under_cookieguard_is_checked_too() -> None:
    api = FastAPI()

    @api.post("/hook")
    @csrf_exempt
    async def fastapi_hook() -> str:
        return "hooked"

    visible = CookieGuard(api, store=MemoryStore(), secret_key="e" * 40)
    assert (await startup(visible))["type"] == "lifespan.startup.complete"
    hidden = CookieGuard(Hidden(api), store=MemoryStore(), secret_key="e" * 40)
    assert (await startup(hidden))["type"] == "lifespan.startup.failed"


async def test_without_a_lifespan_the_first_request_logs_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = CSRFMiddleware(Hidden(site(Route("/hook", hook, methods=["POST"]))))
    transport = httpx.ASGITransport(app=app)
    with caplog.at_level(logging.ERROR, logger="cookieguard.csrf"):
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            await client.get("/form")  # 405, but the app saw the request
            await client.get("/form")
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "'/hook'" in errors[0].getMessage()


UVICORN_SCRIPT = """
import sys, uvicorn
from tests.asgi.test_exemption_startup import Hidden, Route, hook, site
from cookieguard import CSRFMiddleware
app = CSRFMiddleware(Hidden(site(Route("/hook", hook, methods=["POST"]))))
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="error")
"""


def test_uvicorn_refuses_to_start() -> None:
    # uvicorn's default lifespan="auto" would take an exception for "lifespan unsupported"
    # and serve anyway; lifespan.startup.failed makes it exit.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    done = subprocess.run(
        [sys.executable, "-c", UVICORN_SCRIPT, str(port)],
        cwd=Path(__file__).parents[2],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "cannot be seen by CSRFMiddleware" in done.stderr
    assert "Application startup failed" in done.stderr
