"""A real Redis or PostgreSQL that hangs and comes back: 503 while it is gone (within the
store's timeout), and service resumes by itself."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from tests.store_backends import free_port
from tests.stores.pg_server import PrivatePostgres, private_postgres

from cookieguard.asgi.session import SessionMiddleware
from cookieguard.stores.redis import RedisStore


@pytest.fixture
def redis_server() -> Iterator[tuple[int, int]]:
    """(port, pid) of a private redis-server on a free loopback port, without persistence."""
    binary = shutil.which("redis-server")
    if binary is None:
        message = "redis-server is not installed"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield port, process.pid
    finally:
        process.send_signal(signal.SIGCONT)
        process.kill()
        process.wait(timeout=10)


async def read(request: Request) -> Response:
    return JSONResponse(dict(request.session))


async def write(request: Request) -> Response:
    request.session.update(request.query_params)
    return PlainTextResponse("ok")


APP = Starlette(routes=[Route("/read", read), Route("/write", write, methods=["POST"])])


async def test_hung_store_gives_503_and_recovers(
    redis_server: tuple[int, int], caplog: pytest.LogCaptureFixture
) -> None:
    port, pid = redis_server
    store = RedisStore(
        f"redis://127.0.0.1:{port}/0", prefix=f"cgt{secrets.token_hex(4)}:", timeout=0.3
    )
    app = SessionMiddleware(APP, store)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            assert (await http.post("/write?a=1")).status_code == 200
            os.kill(pid, signal.SIGSTOP)
            try:
                with caplog.at_level(logging.ERROR, logger="cookieguard.sessions"):
                    hung = await http.get("/read")
                    write_attempt = await http.post("/write?b=2")
                assert hung.status_code == 503 and "set-cookie" not in hung.headers
                assert write_attempt.status_code == 503
                assert "session store unavailable at load" in caplog.text
                # Without a cookie nothing needs the store: anonymous pages keep working.
                anonymous = await http.get("/read", headers={"cookie": "other=1"})
                assert anonymous.status_code == 200
            finally:
                os.kill(pid, signal.SIGCONT)
            recovered = await http.get("/read")
            assert recovered.status_code == 200 and recovered.json() == {"a": "1"}
    finally:
        await store.close()


@pytest.fixture(scope="module")
def postgres_server() -> Iterator[PrivatePostgres]:
    """A private PostgreSQL that this module may freeze."""
    with private_postgres() as server:
        yield server


async def test_frozen_postgres_gives_503_within_query_timeout_and_recovers(
    postgres_server: PrivatePostgres, caplog: pytest.LogCaptureFixture
) -> None:
    """Every server process stopped: the request answers 503 at query_timeout, not later."""
    from cookieguard.stores.postgres import PostgresStore

    query_timeout = 1.0
    store = PostgresStore(
        postgres_server.dsn,
        table=f"cg_test_{secrets.token_hex(6)}",
        query_timeout=query_timeout,
        timeout=3.0,  # a connect alone may not take the request past query_timeout
    )
    app = SessionMiddleware(APP, store)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    loop = asyncio.get_running_loop()
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            assert (await http.post("/write?a=1")).status_code == 200
            with postgres_server.frozen():
                took = []
                with caplog.at_level(logging.ERROR, logger="cookieguard.sessions"):
                    for request in (http.build_request("GET", "/read"),) * 2:
                        started = loop.time()
                        hung = await http.send(request)
                        took.append(loop.time() - started)
                        assert hung.status_code == 503 and "set-cookie" not in hung.headers
                assert "session store unavailable at load" in caplog.text
            # The first waits on its live connection, the second on a connect; both stop at
            # the deadline (without one, 4.25 s and 3 s).
            assert all(query_timeout - 0.01 <= t <= query_timeout + 0.75 for t in took), took
            recovered = await http.get("/read")
            assert recovered.status_code == 200 and recovered.json() == {"a": "1"}
    finally:
        await store.close()
