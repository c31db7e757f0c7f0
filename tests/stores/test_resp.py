"""RedisStore's own RESP client: pipelining, failures mid-pipeline, timeouts, AUTH/SELECT."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import secrets
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import hiredis
import pytest
import tests.stores.test_contract as contract
from tests.store_backends import REDIS_URL, free_port, missing, require_server

from cookieguard.errors import StoreUnavailable
from cookieguard.stores import _resp
from cookieguard.stores.base import SessionRecord
from cookieguard.stores.redis import RedisStore

NOW = 1_700_000_000.0


def record(n: int) -> SessionRecord:
    return SessionRecord({"n": n, "name": f"é{n}"}, f"user{n % 7}", NOW, NOW, NOW + 600)


@pytest.fixture
async def store() -> AsyncIterator[RedisStore]:
    require_server("Redis", "127.0.0.1", 6379)
    store = RedisStore(REDIS_URL, prefix=f"cgtest:{secrets.token_hex(6)}:")
    assert store._resp is not None  # the standalone URL takes the RESP client
    yield store
    names = [n async for n in store._scan(f"{store.prefix}*", 1000)]
    if names:
        await store._call("DEL", *names)
    await store.close()


async def test_many_concurrent_commands_share_one_pipelined_connection(
    store: RedisStore,
) -> None:
    keys = [secrets.token_hex(32) for _ in range(300)]
    await asyncio.gather(*(store.create(k, record(i)) for i, k in enumerate(keys)))
    conn = store._resp._conn  # type: ignore[union-attr]
    loads = await asyncio.gather(*(store.load(k, now=NOW) for k in keys))
    assert loads == [record(i) for i in range(len(keys))]
    # Loads, deltas and misses interleaved in one burst each get their own reply.
    results = await asyncio.gather(
        *(
            store.update(
                k,
                set_items={"m": i},
                delete_keys=("n",),
                last_seen=NOW,
                expires_at=NOW + 60,
                now=NOW,
            )
            if i % 2
            else store.load(k if i % 4 else "0" * 64, now=NOW)
            for i, k in enumerate(keys)
        )
    )
    for i, result in enumerate(results):
        if i % 2:
            assert result is True
        elif i % 4:
            assert result == record(i)
        else:
            assert result is None
    assert (await store.load(keys[1], now=NOW)).data == {"m": 1, "name": "é1"}  # type: ignore[union-attr]
    assert store._resp._conn is conn  # type: ignore[union-attr]
    infos = await store.list_user("user3", now=NOW)
    assert sorted(i.key_hash for i in infos) == sorted(k for n, k in enumerate(keys) if n % 7 == 3)
    assert await store.delete_user("user3") == len(infos)


async def test_a_cancelled_caller_does_not_shift_the_replies(store: RedisStore) -> None:
    keys = [secrets.token_hex(32) for _ in range(3)]
    for i, k in enumerate(keys):
        await store.create(k, record(i))
    tasks = [asyncio.create_task(store.load(k, now=NOW)) for k in keys]
    await asyncio.sleep(0)  # all three commands are queued
    tasks[1].cancel()
    assert await tasks[0] == record(0)
    assert await tasks[2] == record(2)
    with pytest.raises(asyncio.CancelledError):
        await tasks[1]
    assert await store.load(keys[1], now=NOW) == record(1)


async def test_lost_scripts_are_reloaded(store: RedisStore) -> None:
    key = secrets.token_hex(32)
    await store.create(key, record(1))
    await store._call("SCRIPT", "FLUSH")  # as after a server restart
    assert await store.update(
        key, set_items={"x": 1}, delete_keys=(), last_seen=NOW, expires_at=NOW + 60, now=NOW
    )
    assert (await store.load(key, now=NOW)).data["x"] == 1  # type: ignore[union-attr]


async def test_an_error_reply_is_unavailable_for_that_command_only(
    store: RedisStore, caplog: pytest.LogCaptureFixture
) -> None:
    key = secrets.token_hex(32)
    await store._call("SET", store.session_key(key), "not a hash")
    with pytest.raises(StoreUnavailable):
        await store.load(key, now=NOW)
    assert "WRONGTYPE" in caplog.text
    other = secrets.token_hex(32)
    await store.create(other, record(2))
    assert await store.load(other, now=NOW) == record(2)


def test_the_parser_takes_replies_fed_byte_by_byte() -> None:
    loop = asyncio.new_event_loop()
    try:
        conn = _resp._Connection(loop, timeout=5)
        futures = [conn.send(b"") for _ in range(7)]
        stream = (
            b"+OK\r\n"
            b"-ERR wrong number of arguments\r\n"
            b":-42\r\n"
            b"$-1\r\n"
            b"*4\r\n$3\r\nk:a\r\n$2\r\n\xc3\xa9\r\n$0\r\n\r\n*2\r\n:1\r\n$-1\r\n"
            b"*-1\r\n"
            b"$6\r\na\r\nb\r\n\r\n"
        )
        for i in range(len(stream)):
            conn.data_received(stream[i : i + 1])
        assert not conn.closed
        results = [f.exception() or f.result() for f in futures]
        assert results[0] == "OK"
        assert isinstance(results[1], _resp.ReplyError)
        assert str(results[1]) == "ERR wrong number of arguments"
        assert results[2:] == [-42, None, ["k:a", "é", "", [1, None]], None, "a\r\nb\r\n"]
        # A reply nobody asked for means the stream is out of step: the connection is dropped.
        extra = conn.send(b"")
        conn.data_received(b":1\r\n:2\r\n")
        assert extra.result() == 1 and conn.closed
    finally:
        loop.close()


class ScriptedServer:
    """A loopback RESP server that answers `answers` commands per connection, then acts."""

    def __init__(self, answers: int, then: str) -> None:
        self.answers, self.then = answers, then
        self.connections = 0
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    async def __aenter__(self) -> ScriptedServer:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.transport.abort()
        await self.server.wait_closed()

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"redis://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/0"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.add(writer)
        first = self.connections == 1
        parser, seen = hiredis.Reader(), 0
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                parser.feed(data)
                while parser.gets() is not False:
                    seen += 1
                    if not first or seen <= self.answers:
                        writer.write(b"*0\r\n")  # an empty hash: a miss
                    elif self.then == "close":
                        await writer.drain()
                        writer.close()
                        return
                    # "hang": read on and never answer
                await writer.drain()
        writer.close()


async def test_a_server_closing_mid_pipeline_fails_the_rest_then_reconnects(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with ScriptedServer(answers=3, then="close") as server:
        store = RedisStore(server.url, timeout=5)
        results = await asyncio.gather(
            *(store.load(secrets.token_hex(32), now=NOW) for _ in range(10)),
            return_exceptions=True,
        )
        assert results[:3] == [None, None, None]
        assert all(isinstance(r, StoreUnavailable) for r in results[3:])
        assert "connection" in caplog.text
        # The next request opens a new connection by itself.
        assert await store.load(secrets.token_hex(32), now=NOW) is None
        assert server.connections == 2
        await store.close()


async def test_a_silent_server_times_out_every_waiting_command() -> None:
    async with ScriptedServer(answers=1, then="hang") as server:
        store = RedisStore(server.url, timeout=0.3)
        started = time.monotonic()
        results = await asyncio.gather(
            *(store.load(secrets.token_hex(32), now=NOW) for _ in range(5)),
            return_exceptions=True,
        )
        assert results[0] is None
        assert all(isinstance(r, StoreUnavailable) for r in results[1:])
        assert time.monotonic() - started < 2
        assert await store.load(secrets.token_hex(32), now=NOW) is None
        await store.close()


@pytest.fixture
async def private_redis(tmp_path: Path) -> AsyncIterator[int]:
    """A private redis-server with a password (and an ACL user), on a free port."""
    exe = shutil.which("redis-server")
    if exe is None:
        missing("the redis-server executable is not installed")
    port = free_port()
    proc = subprocess.Popen(
        [
            *(exe, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp_path)),
            *("--save", "", "--appendonly", "no", "--requirepass", "hunter2"),
            *("--user", "app", "on", ">s3cret", "~*", "+@all"),
            *("--unixsocket", str(tmp_path / "redis.sock"), "--unixsocketperm", "700"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                await writer.wait_closed()
                break
            except OSError:
                assert time.monotonic() < deadline, "redis-server did not start"
                await asyncio.sleep(0.05)
        yield port
    finally:
        proc.kill()
        proc.wait(timeout=10)


async def test_auth_and_select_come_from_the_url(
    private_redis: int, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import redis.asyncio as aioredis

    port = private_redis
    key = secrets.token_hex(32)
    store = RedisStore(f"redis://:hunter2@127.0.0.1:{port}/3")
    acl_store = RedisStore(f"redis://app:s3cret@127.0.0.1:{port}/5")
    check = aioredis.Redis.from_url(f"redis://:hunter2@127.0.0.1:{port}/3", decode_responses=True)
    check0 = aioredis.Redis.from_url(f"redis://:hunter2@127.0.0.1:{port}/0")
    try:
        await store.create(key, record(1))
        assert await store.load(key, now=NOW) == record(1)
        assert await check.exists(store.session_key(key)) == 1  # in db 3
        assert await check0.dbsize() == 0
        await acl_store.create(key, record(2))  # user "app", db 5: a separate session
        assert await acl_store.load(key, now=NOW) == record(2)
        assert await store.load(key, now=NOW) == record(1)
        unix_store = RedisStore(f"unix://:hunter2@{tmp_path / 'redis.sock'}?db=3")
        assert unix_store._resp is not None and unix_store._resp.path is not None
        assert await unix_store.load(key, now=NOW) == record(1)  # same server, same db 3
        await unix_store.close()
        for url in (
            f"redis://:wrong-hunter2@127.0.0.1:{port}/0",
            f"redis://127.0.0.1:{port}/0",
            f"redis://:hunter2@127.0.0.1:{port}/99",
        ):
            bad = RedisStore(url)
            with pytest.raises(StoreUnavailable) as info:
                await bad.load(key, now=NOW)
            assert "hunter2" not in str(info.value) and "hunter2" not in caplog.text
            await bad.close()
    finally:
        await store.close()
        await acl_store.close()
        await check.aclose()
        await check0.aclose()


def test_tls_and_cluster_urls_keep_redis_py() -> None:
    assert RedisStore("redis://127.0.0.1:6379/0")._resp is not None
    assert RedisStore("unix:///tmp/redis.sock?db=2")._resp is not None
    assert RedisStore("rediss://127.0.0.1:6379/0")._resp is None
    assert RedisStore("redis://127.0.0.1:6379/0", cluster=True)._resp is None
    assert RedisStore("redis://127.0.0.1:6379/0?health_check_interval=5")._resp is None


CONTRACT = sorted(
    name
    for name, fn in vars(contract).items()
    if name.startswith("test_")
    and "store" in inspect.signature(fn).parameters
    and "hundred_thousand" not in name
)


@pytest.fixture
async def make_redis_py_store() -> AsyncIterator[Callable[..., RedisStore]]:
    """Stores on the redis-py path: a URL option the RESP client does not take sends them there."""
    require_server("Redis", "127.0.0.1", 6379)
    made: list[RedisStore] = []
    run = secrets.token_hex(4)

    def make(prefix: str = "") -> RedisStore:
        store = RedisStore(
            f"{REDIS_URL}?health_check_interval=30",
            prefix=f"cgtest:{run}:{prefix or secrets.token_hex(4)}:",
        )
        assert store._resp is None
        made.append(store)
        return store

    yield make
    cleaner = make("")
    names = [n async for n in cleaner._scan(f"cgtest:{run}:*", 1000)]
    if names:
        await cleaner._call("DEL", *names)
    for store in made:
        await store.close()


@pytest.mark.parametrize("name", CONTRACT)
async def test_contract_through_redis_py(name: str, make_redis_py_store: Any) -> None:
    await getattr(contract, name)(make_redis_py_store())


async def test_two_instances_through_redis_py(make_redis_py_store: Any) -> None:
    await contract.test_two_instances_sharing_data_lose_no_writes(
        (make_redis_py_store("shared"), make_redis_py_store("shared"))
    )
