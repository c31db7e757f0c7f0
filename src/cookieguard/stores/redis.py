"""Redis store: a hash per session with a TTL, a set per user, Lua for atomic deltas.

Key layout (``cg:`` is the configurable prefix; the ``{...}`` hash tag picks the cluster slot):

- ``cg:s:{<key hash>}``: the session hash. Fields ``k:<name>`` hold JSON values, ``m:*`` the
  metadata. Each script touches only this one key, so it works on Redis Cluster.
- ``cg:u:{<user id>}``: the set of a user's session key hashes, in its own slot; it is updated
  in separate commands (never inside a session's script) and pruned lazily.
- ``cg:c:{<counter key>}``: a throttling counter (hash: count, window end) with a TTL.

Standalone ``redis://`` and ``unix://`` URLs use `_resp.RespClient` (one pipelined connection
parsed by hiredis, several times cheaper per command than redis-py's asyncio client); TLS
(``rediss://``), Redis Cluster, URLs with extra query options, and installs without hiredis
use redis-py for everything.

The key layout, the scripts and the encoding are `_redis_layout`'s, shared with
`SyncRedisStore` (redis-py's blocking client); this module is only the I/O.

Expiry is native: each hash gets a TTL of ``expires_at - now`` (the caller's clock) and loads
also check ``expires_at``. Id cycling is two steps (create the new hash, then delete the old)
because the two keys live in different slots.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Collection, Mapping
from typing import Any
from urllib.parse import urlsplit

from cookieguard.errors import ConfigError, StoreUnavailable
from cookieguard.stores import _redis_layout as layout
from cookieguard.stores._names import check_key_prefix
from cookieguard.stores._reasons import scrub, text_reason
from cookieguard.stores._urls import check_redis_url
from cookieguard.stores.base import KeyCollision, SessionInfo, SessionRecord

try:
    import redis.asyncio as aioredis
    from redis.exceptions import NoScriptError, RedisClusterException, RedisError
except ImportError:  # the optional driver; RedisStore() says how to install it
    aioredis = None  # type: ignore[assignment]
try:
    from cookieguard.stores import _resp
except ImportError:  # hiredis missing (plain `pip install redis`): redis-py does everything
    _resp = None  # type: ignore[assignment]

__all__ = ["RedisStore"]

_log = logging.getLogger("cookieguard.stores")

# parse_url() keys the RESP client understands; anything else (TLS, socket options) -> redis-py.
_RESP_URL_KEYS = frozenset({"host", "port", "db", "username", "password", "path"})
# SCRIPT LOAD commands, packed once, for the RESP client.
_LOADS = {s.sha: _resp.pack(("SCRIPT", "LOAD", s.source)) for s in layout.SCRIPTS} if _resp else {}


class RedisStore:
    """Sessions and counters in Redis, standalone or Redis Cluster.

    A standalone ``redis://`` or ``unix://`` server is spoken to by a built-in pipelined client
    (hiredis parses the replies; ``cookieguard[redis]`` installs it), one connection per event
    loop. ``rediss://`` (TLS), `cluster` and URLs with other query options go through redis-py.

    Args:
        url: ``redis://[:password@]host:port/db`` or ``rediss://`` for TLS; with `cluster`,
            any one node of the cluster.
        prefix: Prepended to every key, so several apps can share one database.
        timeout: Socket connect and read timeout in seconds; beyond it, `StoreUnavailable`.
        cluster: Talk to a Redis Cluster (keys are already spread by their hash tags).
    """

    expires_keys_itself = True
    """Sessions and counters carry a TTL, so no background `Purger` is needed."""

    def __init__(
        self, url: str, *, prefix: str = "cg:", timeout: float = 2.0, cluster: bool = False
    ) -> None:
        if aioredis is None:
            raise ConfigError("RedisStore needs redis-py: pip install cookieguard[redis]")
        check_key_prefix(prefix)
        parsed = check_redis_url(url, cluster=cluster)
        scheme = urlsplit(url).scheme.lower()
        self._password: str | None = parsed.get("password")
        self._url = url
        self.prefix = prefix
        self._timeout = timeout
        self.cluster = cluster
        self._client: aioredis.Redis | aioredis.RedisCluster | None = None
        self._connecting: asyncio.Lock | None = None
        self._resp: _resp.RespClient | None = None
        if scheme == "unix":
            parsed.pop("connection_class", None)
        if (
            _resp is not None
            and not cluster
            and scheme != "rediss"
            and parsed.keys() <= _RESP_URL_KEYS
        ):
            self._resp = _resp.RespClient(
                parsed.get("host", "localhost"),
                parsed.get("port", 6379),
                path=parsed.get("path"),
                username=parsed.get("username"),
                password=parsed.get("password"),
                db=parsed.get("db", 0),
                timeout=timeout,
            )

    def session_key(self, key_hash: str) -> str:
        """The Redis key of a session (its hash tag is the key hash: one slot each)."""
        return layout.session_key(self.prefix, key_hash)

    def _user_key(self, user_id: str) -> str:
        return layout.user_key(self.prefix, user_id)

    def _counter_key(self, key: str) -> str:
        return layout.counter_key(self.prefix, key)

    async def _connect(self) -> aioredis.Redis | aioredis.RedisCluster:
        """Create the client once; a cluster client also learns the slot map here."""
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._client is None:
                factory = aioredis.RedisCluster if self.cluster else aioredis.Redis
                client = factory.from_url(
                    self._url,
                    decode_responses=True,
                    socket_timeout=self._timeout,
                    socket_connect_timeout=self._timeout,
                )
                if isinstance(client, aioredis.RedisCluster):
                    try:
                        await client.initialize()
                    except (RedisError, RedisClusterException) as exc:
                        await client.aclose()
                        raise self._unavailable(exc) from None
                self._client = client
            return self._client

    def _unavailable(self, exc: BaseException) -> StoreUnavailable:
        # The server's error reply ("ERR DB index is out of range", "WRONGPASS ...") or why
        # the connection failed ("connection refused on HOST:PORT"), never the password.
        reason = scrub(text_reason(str(exc)) if str(exc) else type(exc).__name__, self._password)
        _log.warning("redis store unavailable (%s): %s", type(exc).__name__, reason)
        return StoreUnavailable(f"redis store unavailable: {reason}")

    async def close(self) -> None:
        """Close the connection (pipelined client) or redis-py's pool; the next call reconnects."""
        if self._resp is not None:
            await self._resp.close()
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def _script(self, script: layout.Script, key: str, *args: Any) -> Any:
        """EVALSHA on one key, loading the script if the server lost it (restart, flush)."""
        if self._resp is not None:
            command = _resp.pack(("EVALSHA", script.sha, 1, key, *args))
            try:
                try:
                    return await self._resp.execute(command)
                except _resp.ReplyError as exc:
                    if not str(exc).startswith("NOSCRIPT"):
                        raise
                    await self._resp.execute(_LOADS[script.sha])
                    return await self._resp.execute(command)
            except (_resp.ReplyError, _resp.ConnectionLost) as exc:
                raise self._unavailable(exc) from None
        client = self._client or await self._connect()
        try:
            try:
                return await client.execute_command("EVALSHA", script.sha, 1, key, *args)
            except NoScriptError:
                await client.script_load(script.source)
                return await client.execute_command("EVALSHA", script.sha, 1, key, *args)
        except RedisError as exc:
            raise self._unavailable(exc) from None

    # -- sessions -------------------------------------------------------------------------

    async def load(self, key_hash: str, *, now: float) -> SessionRecord | None:
        """One HGETALL of the session hash; a hash past the caller's `expires_at` counts as gone
        even before Redis's TTL removes it.
        """
        fields: dict[str, str]
        if self._resp is not None:
            key = f"{self.prefix}s:{{{key_hash}}}".encode()
            try:
                flat = await self._resp.execute(
                    b"*2\r\n$7\r\nHGETALL\r\n$%d\r\n%s\r\n" % (len(key), key)
                )
            except (_resp.ReplyError, _resp.ConnectionLost) as exc:
                raise self._unavailable(exc) from None
            pairs = iter(flat)
            fields = dict(zip(pairs, pairs, strict=True))
        else:
            try:
                client = self._client or await self._connect()
                fields = await client.hgetall(self.session_key(key_hash))  # type: ignore[assignment]
            except RedisError as exc:
                raise self._unavailable(exc) from None
        return layout.record_of(fields, now)

    async def create(
        self, key_hash: str, record: SessionRecord, *, replaces: str | None = None
    ) -> None:
        """A Lua script creates the hash only if absent (else `KeyCollision`) and sets its TTL;
        then the user index; then `replaces` is deleted: two steps, as the keys live in different
        slots.
        """
        args = layout.create_args(record)
        if not await self._script(layout.CREATE, self.session_key(key_hash), *args):
            raise KeyCollision(key_hash[:12])
        # Index after the hash exists: a list_user in between just doesn't see it yet.
        if record.user_id is not None:
            await self._call("SADD", self._user_key(record.user_id), key_hash)
        if replaces is not None:
            await self.delete(replaces)

    async def update(
        self,
        key_hash: str,
        *,
        set_items: Mapping[str, Any],
        delete_keys: Collection[str],
        last_seen: float,
        expires_at: float,
        now: float,
    ) -> bool:
        """One Lua script on the session hash: HDEL the deleted keys, HSET the new values and the
        metadata, renew the TTL. Returns False, writing nothing, when the hash is gone or expired.
        """
        args = layout.update_args(set_items, delete_keys, last_seen, expires_at, now)
        return bool(await self._script(layout.UPDATE, self.session_key(key_hash), *args))

    async def delete(self, key_hash: str) -> None:
        """A Lua script deletes the hash and returns its user; that user's index then drops it."""
        user_id = await self._script(layout.DELETE, self.session_key(key_hash))
        if user_id:
            await self._call("SREM", self._user_key(user_id), key_hash)

    async def _call(self, command: str, *args: Any) -> Any:
        if self._resp is not None:
            try:
                return await self._resp.execute(_resp.pack((command, *args)))
            except (_resp.ReplyError, _resp.ConnectionLost) as exc:
                raise self._unavailable(exc) from None
        try:
            client = self._client or await self._connect()
            return await client.execute_command(command, *args)
        except RedisError as exc:
            raise self._unavailable(exc) from None

    async def _many(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        """Run commands in one non-transactional pipeline; any error reply fails the lot."""
        if self._resp is not None:
            try:
                results = await self._resp.execute_many([_resp.pack(c) for c in commands])
            except _resp.ConnectionLost as exc:
                raise self._unavailable(exc) from None
            for result in results:
                if isinstance(result, _resp.ReplyError):
                    raise self._unavailable(result)
            return results
        try:
            client = self._client or await self._connect()
            async with client.pipeline(transaction=False) as pipe:
                for command in commands:
                    pipe.execute_command(*command)
                return await pipe.execute()
        except RedisError as exc:
            raise self._unavailable(exc) from None

    async def _scan(self, match: str, count: int) -> AsyncIterator[str]:
        """Every key matching the glob (SCAN: duplicates possible, the callers don't mind)."""
        if self._resp is not None:
            cursor = "0"
            while True:
                cursor, names = await self._call("SCAN", cursor, "MATCH", match, "COUNT", count)
                for name in names:
                    yield name
                if cursor == "0":
                    return
        client = self._client or await self._connect()
        try:
            async for name in client.scan_iter(match=match, count=count):
                yield name
        except RedisError as exc:
            raise self._unavailable(exc) from None

    async def _user_sessions(self, user_id: str) -> list[tuple[str, list[str | None]]]:
        """(key hash, metadata) of each live hash in the user's set; prunes stale members."""

        user_key = self._user_key(user_id)
        members: Collection[str] = await self._call("SMEMBERS", user_key)
        if not members:
            return []
        keys = sorted(members)
        metas: list[list[str | None]] = await self._many(
            [("HMGET", self.session_key(key_hash), *layout.META) for key_hash in keys]
        )
        stale, live = layout.split_members(keys, metas)
        if stale:
            await self._call("SREM", user_key, *stale)
        return live

    async def list_user(self, user_id: str, *, now: float) -> list[SessionInfo]:
        """The user's index set, then one pipelined HMGET per member; members whose hash has
        gone are pruned from the set.
        """
        return layout.infos_of(user_id, await self._user_sessions(user_id), now)

    async def delete_user(self, user_id: str, *, keep: str | None = None) -> int:
        """DEL the user's hashes except `keep` in one pipeline, then drop them from its index."""
        doomed = [k for k, _ in await self._user_sessions(user_id) if k != keep]
        if not doomed:
            return 0
        deleted: list[int] = await self._many(
            [("DEL", self.session_key(key_hash)) for key_hash in doomed]
        )
        await self._call("SREM", self._user_key(user_id), *doomed)
        return sum(deleted)

    async def purge_expired(self, *, now: float, batch_size: int = 1000) -> AsyncIterator[int]:
        """Sweep what the caller's clock says is expired, then prune the per-user sets.

        Redis drops expired sessions by itself, so normally only the user sets need work.
        """
        sessions, users = layout.scan_patterns(self.prefix)
        batch: list[str] = []
        async for name in self._scan(sessions, batch_size):
            batch.append(name)
            if len(batch) >= batch_size:
                if count := await self._purge_batch(batch, now):
                    yield count
                batch = []
        if batch and (count := await self._purge_batch(batch, now)):
            yield count
        async for name in self._scan(users, batch_size):
            await self._user_sessions(layout.user_of_set_key(self.prefix, name))

    async def _purge_batch(self, names: list[str], now: float) -> int:
        if self.cluster:  # cluster pipelines refuse scripts; each key is its own slot anyway
            done = 0
            for i in range(0, len(names), 32):  # within the client's per-node connection limit
                chunk = names[i : i + 32]
                done += sum(
                    await asyncio.gather(
                        *(self._script(layout.PURGE_ONE, name, repr(now)) for name in chunk)
                    )
                )
            return done
        # Pipelines cannot recover NOSCRIPT, so load the script first.
        await self._call("SCRIPT", "LOAD", layout.PURGE_ONE.source)
        stamp = repr(now)
        results: list[int] = await self._many(
            [("EVALSHA", layout.PURGE_ONE.sha, 1, name, stamp) for name in names]
        )
        return sum(results)

    # -- counters -------------------------------------------------------------------------

    async def hit(
        self, key: str, *, window: int, now: float, limit: int | None = None
    ) -> tuple[int, float]:
        """One Lua script on the counter hash (count, window end, TTL), atomic on the server, so
        app servers never take a counter past `limit`.
        """
        args = layout.hit_args(window, now, limit)
        return layout.counter_of(await self._script(layout.HIT, self._counter_key(key), *args))

    async def release(self, key: str, *, now: float) -> None:
        """A Lua script taking an event back from the live window (never below zero)."""
        await self._script(layout.RELEASE, self._counter_key(key), repr(now))

    async def peek(self, key: str, *, now: float) -> tuple[int, float] | None:
        """One HMGET of the counter hash; None once the window has ended."""
        return layout.peek_of(await self._call("HMGET", self._counter_key(key), "n", "e"), now)

    async def reset(self, key: str) -> None:
        """DEL the counter hash."""
        await self._call("DEL", self._counter_key(key))
