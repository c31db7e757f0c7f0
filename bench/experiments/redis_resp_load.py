"""Experiment: `cookieguard demo` with `RedisStore.load` on a bare RESP client.

    BENCH_COOKIEGUARD=bench/experiments/cookieguard-resp python3 bench/run.py \
        --cookieguard-rev HEAD --subjects cookieguard-redis --workloads W2,W3,W4 --nice -10

A measurement aid, not library code: it replaces `load` (one HGETALL) at run time with an
`asyncio.Protocol` that writes pre-encoded commands, coalesces the writes of one event-loop
tick into one `send()`, and parses replies with `hiredis.Reader`. It has no reconnect and no
timeouts; a real client needs both (and the 503 mapping the store does). The numbers it gave
are in BENCHMARKS.md ("Where the demo's time goes").
"""

from __future__ import annotations

import asyncio
import collections
import sys
from typing import Any
from urllib.parse import urlsplit

import hiredis

from cookieguard.stores import redis as redis_store
from cookieguard.stores._json import decode
from cookieguard.stores.base import SessionRecord


class _RESP(asyncio.Protocol):
    """One connection; replies resolve futures in the order the commands were sent."""

    def __init__(self) -> None:
        self.reader = hiredis.Reader(encoding="utf-8")
        self.waiters: collections.deque[asyncio.Future[Any]] = collections.deque()
        self.pending: list[bytes] = []
        self.scheduled = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while (reply := self.reader.gets()) is not False:
            self.waiters.popleft().set_result(reply)

    def _flush(self) -> None:
        self.scheduled = False
        assert self.transport is not None
        self.transport.write(b"".join(self.pending))
        self.pending.clear()

    def command(self, payload: bytes) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.waiters.append(future)
        self.pending.append(payload)
        if not self.scheduled:
            self.scheduled = True
            loop.call_soon(self._flush)
        return future


_CONNECTIONS: dict[str, _RESP] = {}


async def _connection(url: str) -> _RESP:
    proto = _CONNECTIONS.get(url)
    if proto is None:
        parts = urlsplit(url)
        loop = asyncio.get_running_loop()
        _, proto = await loop.create_connection(_RESP, parts.hostname, parts.port or 6379)
        db = parts.path.lstrip("/") or "0"
        if db != "0":
            await proto.command(b"*2\r\n$6\r\nSELECT\r\n$%d\r\n%s\r\n" % (len(db), db.encode()))
        _CONNECTIONS[url] = proto
    return proto


async def load(self: Any, key_hash: str, *, now: float) -> SessionRecord | None:
    proto = await _connection(self._url)
    key = self.session_key(key_hash).encode()
    flat = await proto.command(b"*2\r\n$7\r\nHGETALL\r\n$%d\r\n%s\r\n" % (len(key), key))
    fields = dict(zip(flat[::2], flat[1::2], strict=True))
    expires = fields.get("m:e")
    if expires is None or float(expires) <= now:
        return None
    names, values = [], []
    for name, value in fields.items():
        if name[0] == "k":
            names.append(name[2:])
            values.append(value)
    data = dict(zip(names, decode(f"[{','.join(values)}]"), strict=True))
    return SessionRecord(
        data,
        fields.get("m:u"),
        float(fields["m:c"]),
        float(fields["m:l"]),
        float(expires),
        fields.get("m:a"),
    )


if __name__ == "__main__":
    redis_store.RedisStore.load = load  # type: ignore[method-assign]
    from cookieguard.cli import main

    sys.exit(main(sys.argv[1:]))
