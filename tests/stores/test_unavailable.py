"""A backend that is down gives StoreUnavailable (no secrets in it), and the store recovers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from tests.store_backends import POSTGRES_DSN, free_port, missing, require_server

from cookieguard.errors import StoreUnavailable
from cookieguard.stores.base import SessionRecord, SessionStore
from cookieguard.stores.sqlite import SQLiteStore

NOW = 1_700_000_000.0
RECORD = SessionRecord({"a": 1}, "u", NOW, NOW, NOW + 3600)


class TcpProxy:
    """Forwards a loopback port to a server; `stop()` cuts every connection like a crash."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await self._server.wait_closed()
        self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}


def assert_no_secret(exc: StoreUnavailable, caplog: pytest.LogCaptureFixture) -> None:
    assert exc.status_code == 503
    assert "hunter2" not in str(exc)
    assert "hunter2" not in caplog.text
    assert len(str(exc)) < 80


async def test_sqlite_unopenable_file_then_recovery(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = SQLiteStore(tmp_path / "missing-dir" / "s.db")
    with pytest.raises(StoreUnavailable) as info:
        await store.load("k" * 64, now=NOW)
    assert "sqlite" in str(info.value)
    assert "sqlite store unavailable" in caplog.text
    (tmp_path / "missing-dir").mkdir()
    await store.create("k" * 64, RECORD)
    assert await store.load("k" * 64, now=NOW) == RECORD
    await store.close()


async def test_sqlite_waits_for_a_held_write_lock_without_blocking_the_loop(
    tmp_path: Path,
) -> None:
    import sqlite3

    store = SQLiteStore(tmp_path / "s.db", lock_timeout=5)
    await store.create("k" * 64, RECORD)
    other = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process writing
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    tick_task = asyncio.create_task(ticker())
    update = asyncio.create_task(
        store.update(
            "k" * 64,
            set_items={"b": 2},
            delete_keys=(),
            last_seen=NOW,
            expires_at=NOW + 60,
            now=NOW,
        )
    )
    # Readers are not blocked by a writer in WAL mode.
    assert await store.load("k" * 64, now=NOW) == RECORD
    await asyncio.sleep(0.3)
    assert not update.done()
    assert ticks >= 20  # the loop kept running while the update waited
    other.execute("COMMIT")
    assert await asyncio.wait_for(update, 2) is True
    tick_task.cancel()
    loaded = await store.load("k" * 64, now=NOW)
    assert loaded is not None and loaded.data == {"a": 1, "b": 2}

    other.execute("BEGIN IMMEDIATE")
    store.lock_timeout = 0.2
    started = time.monotonic()
    with pytest.raises(StoreUnavailable):
        await store.delete("k" * 64)
    assert time.monotonic() - started < 1.5
    other.execute("ROLLBACK")
    other.close()
    await store.delete("k" * 64)
    assert await store.load("k" * 64, now=NOW) is None
    await store.close()


async def _assert_down_then_recovers(
    store: SessionStore, stop: object, start: object, caplog: pytest.LogCaptureFixture
) -> None:
    key = secrets.token_hex(32)
    await store.create(key, RECORD)
    assert await store.load(key, now=NOW) == RECORD
    await stop()  # type: ignore[operator]
    started = time.monotonic()
    for _ in range(3):  # repeatedly, not just for the first request
        with pytest.raises(StoreUnavailable) as info:
            await store.load(key, now=NOW)
        assert_no_secret(info.value, caplog)
    assert time.monotonic() - started < 15
    await start()  # type: ignore[operator]
    # The same store object recovers by itself (a pool may wait out its reconnect backoff).
    deadline = time.monotonic() + 20
    while True:
        try:
            assert await store.load(key, now=NOW) in (RECORD, None)
            break
        except StoreUnavailable:
            assert time.monotonic() < deadline, "the store did not recover"
            await asyncio.sleep(0.2)
    await store.create(key + "x", RECORD)
    assert await store.load(key + "x", now=NOW) == RECORD


async def test_postgres_closed_port_is_unavailable(caplog: pytest.LogCaptureFixture) -> None:
    from cookieguard.stores.postgres import PostgresStore

    dsn = f"postgresql://postgres:hunter2@127.0.0.1:{free_port()}/test"
    store = PostgresStore(dsn, table="cg_never_created", timeout=1)
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as info:
        await store.load("k" * 64, now=NOW)
    assert time.monotonic() - started < 5
    assert_no_secret(info.value, caplog)
    assert "postgres" in str(info.value)
    await store.close()


async def test_postgres_recovers_after_an_outage(caplog: pytest.LogCaptureFixture) -> None:
    require_server("PostgreSQL", "127.0.0.1", 5432)
    from cookieguard.stores.postgres import PostgresStore

    caplog.set_level(logging.WARNING)
    proxy = TcpProxy(5432)
    await proxy.start()
    table = f"cg_test_{secrets.token_hex(6)}"
    dsn = f"postgresql://postgres:hunter2@127.0.0.1:{proxy.port}/test"
    store = PostgresStore(dsn, table=table, timeout=1)
    try:
        await _assert_down_then_recovers(store, proxy.stop, proxy.start, caplog)
    finally:
        await store.close()
        await proxy.stop()
        import psycopg

        async with await psycopg.AsyncConnection.connect(POSTGRES_DSN, autocommit=True) as conn:
            await conn.execute(f"DROP TABLE IF EXISTS {table}, {table}_counters")


async def test_redis_closed_port_is_unavailable(caplog: pytest.LogCaptureFixture) -> None:
    from cookieguard.stores.redis import RedisStore

    store = RedisStore(f"redis://:hunter2@127.0.0.1:{free_port()}/0", timeout=1)
    started = time.monotonic()
    for call in (store.load("k" * 64, now=NOW), store.create("k" * 64, RECORD)):
        with pytest.raises(StoreUnavailable) as info:
            await call
        assert_no_secret(info.value, caplog)
    assert time.monotonic() - started < 5
    await store.close()


class RedisServer:
    """A private, non-persistent redis-server on a free port."""

    def __init__(self, tmp_path: Path) -> None:
        self.port = free_port()
        self.dir = tmp_path
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        exe = shutil.which("redis-server")
        assert exe is not None
        self.proc = subprocess.Popen(
            [
                exe,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                return
            except OSError:
                await asyncio.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    async def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None


async def test_redis_recovers_after_a_restart(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    if shutil.which("redis-server") is None:
        missing("the redis-server executable is not installed")
    from cookieguard.stores.redis import RedisStore

    server = RedisServer(tmp_path)
    await server.start()
    store = RedisStore(f"redis://127.0.0.1:{server.port}/0", timeout=1)
    try:
        await _assert_down_then_recovers(store, server.stop, server.start, caplog)
    finally:
        await store.close()
        await server.stop()
