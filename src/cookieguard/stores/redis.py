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

Expiry is native: each hash gets a TTL of ``expires_at - now`` (the caller's clock) and loads
also check ``expires_at``. Id cycling is two steps (create the new hash, then delete the old)
because the two keys live in different slots.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator, Collection, Mapping
from typing import Any
from urllib.parse import urlsplit

from cookieguard.errors import ConfigError, StoreUnavailable
from cookieguard.stores._json import decode, encode_value
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

logger = logging.getLogger("cookieguard.stores")

_META = ("m:u", "m:c", "m:l", "m:e", "m:a")
# parse_url() keys the RESP client understands; anything else (TLS, socket options) -> redis-py.
_RESP_URL_KEYS = frozenset({"host", "port", "db", "username", "password", "path"})
_GLOB_SPECIAL = str.maketrans({c: "\\" + c for c in "*?[]\\"})

# KEYS[1] session; ARGV: ttl_ms, then field/value pairs. Refuses to overwrite.
_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
"""
# KEYS[1] session; ARGV: now, last_seen, expires_at, ttl_ms, n_deleted, deleted..., pairs...
# A missing or expired hash is left alone: a deleted session is never re-created.
_UPDATE = """
local e = redis.call('HGET', KEYS[1], 'm:e')
if not e or tonumber(e) <= tonumber(ARGV[1]) then return 0 end
local n = tonumber(ARGV[5])
if n > 0 then redis.call('HDEL', KEYS[1], unpack(ARGV, 6, 5 + n)) end
redis.call('HSET', KEYS[1], 'm:l', ARGV[2], 'm:e', ARGV[3], unpack(ARGV, 6 + n))
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
"""
# KEYS[1] session. Deletes it and returns its user id (or false), for the per-user set.
_DELETE = """
local u = redis.call('HGET', KEYS[1], 'm:u')
redis.call('DEL', KEYS[1])
return u
"""
# KEYS[1] session; ARGV[1] now. Deletes it only if expired by the caller's clock.
_PURGE_ONE = """
local e = redis.call('HGET', KEYS[1], 'm:e')
if e and tonumber(e) <= tonumber(ARGV[1]) then redis.call('DEL', KEYS[1]) return 1 end
return 0
"""
# KEYS[1] counter; ARGV: now, window end if new, window seconds, limit ('' for none).
# At the limit nothing is written and {limit + 1, end} comes back.
_HIT = """
local v = redis.call('HMGET', KEYS[1], 'n', 'e')
if v[2] and tonumber(v[2]) > tonumber(ARGV[1]) then
  if ARGV[4] ~= '' and tonumber(v[1]) >= tonumber(ARGV[4]) then
    return {tonumber(ARGV[4]) + 1, v[2]}
  end
  return {redis.call('HINCRBY', KEYS[1], 'n', 1), v[2]}
end
redis.call('HSET', KEYS[1], 'n', 1, 'e', ARGV[2])
redis.call('PEXPIRE', KEYS[1], math.floor(tonumber(ARGV[3]) * 1000))
return {1, ARGV[2]}
"""


class _Script:
    __slots__ = ("load", "sha", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()
        self.load = _resp.pack(("SCRIPT", "LOAD", source)) if _resp is not None else b""


_CREATE_SCRIPT = _Script(_CREATE)
_UPDATE_SCRIPT = _Script(_UPDATE)
_DELETE_SCRIPT = _Script(_DELETE)
_PURGE_SCRIPT = _Script(_PURGE_ONE)
_HIT_SCRIPT = _Script(_HIT)
# KEYS[1] counter; ARGV[1] now. One event back from a live window, never below zero.
_RELEASE_SCRIPT = _Script("""
local v = redis.call('HMGET', KEYS[1], 'n', 'e')
if v[2] and tonumber(v[2]) > tonumber(ARGV[1]) and tonumber(v[1]) > 0 then
  redis.call('HINCRBY', KEYS[1], 'n', -1)
end
return 0
""")


def _ttl_ms(expires_at: float, now: float) -> int:
    return max(1, int((expires_at - now) * 1000))


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
        return f"{self.prefix}s:{{{key_hash}}}"

    def _user_key(self, user_id: str) -> str:
        return f"{self.prefix}u:{{{user_id}}}"

    def _counter_key(self, key: str) -> str:
        return f"{self.prefix}c:{{{key}}}"

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
        logger.warning("redis store unavailable (%s): %s", type(exc).__name__, reason)
        return StoreUnavailable(f"redis store unavailable: {reason}")

    async def close(self) -> None:
        if self._resp is not None:
            await self._resp.close()
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def _script(self, script: _Script, key: str, *args: Any) -> Any:
        """EVALSHA on one key, loading the script if the server lost it (restart, flush)."""
        if self._resp is not None:
            command = _resp.pack(("EVALSHA", script.sha, 1, key, *args))
            try:
                try:
                    return await self._resp.execute(command)
                except _resp.ReplyError as exc:
                    if not str(exc).startswith("NOSCRIPT"):
                        raise
                    await self._resp.execute(script.load)
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
        expires = fields.get("m:e")
        if expires is None or float(expires) <= now:
            return None
        names, values = [], []
        for name, value in fields.items():
            if name[0] == "k":
                names.append(name[2:])
                values.append(value)
        # One decoder call for all values (each a complete JSON text we wrote) is 2x faster.
        data = dict(zip(names, decode(f"[{','.join(values)}]"), strict=True))
        return SessionRecord(
            data,
            fields.get("m:u"),
            float(fields["m:c"]),
            float(fields["m:l"]),
            float(expires),
            fields.get("m:a"),
        )

    async def create(
        self, key_hash: str, record: SessionRecord, *, replaces: str | None = None
    ) -> None:
        args: list[Any] = [
            _ttl_ms(record.expires_at, record.last_seen),
            "m:c",
            repr(record.created_at),
            "m:l",
            repr(record.last_seen),
            "m:e",
            repr(record.expires_at),
        ]
        if record.user_id is not None:
            args += ("m:u", record.user_id)
        if record.user_agent is not None:
            args += ("m:a", record.user_agent)
        for name, value in record.data.items():
            args += (f"k:{name}", encode_value(value))
        if not await self._script(_CREATE_SCRIPT, self.session_key(key_hash), *args):
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
        args: list[Any] = [
            repr(now),
            repr(last_seen),
            repr(expires_at),
            _ttl_ms(expires_at, now),
            len(delete_keys),
        ]
        args += [f"k:{name}" for name in delete_keys]
        for name, value in set_items.items():
            args += (f"k:{name}", encode_value(value))
        return bool(await self._script(_UPDATE_SCRIPT, self.session_key(key_hash), *args))

    async def delete(self, key_hash: str) -> None:
        user_id = await self._script(_DELETE_SCRIPT, self.session_key(key_hash))
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
            [("HMGET", self.session_key(key_hash), *_META) for key_hash in keys]
        )
        stale = [k for k, meta in zip(keys, metas, strict=True) if meta[3] is None]
        if stale:
            await self._call("SREM", user_key, *stale)
        return [(k, meta) for k, meta in zip(keys, metas, strict=True) if meta[3] is not None]

    async def list_user(self, user_id: str, *, now: float) -> list[SessionInfo]:
        infos = [
            SessionInfo(key_hash, user_id, float(m[1]), float(m[2]), float(m[3]), m[4])  # type: ignore[arg-type]
            for key_hash, m in await self._user_sessions(user_id)
            if float(m[3]) > now  # type: ignore[arg-type]
        ]
        infos.sort(key=lambda info: info.last_seen, reverse=True)
        return infos

    async def delete_user(self, user_id: str, *, keep: str | None = None) -> int:
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
        pattern = self.prefix.translate(_GLOB_SPECIAL)
        batch: list[str] = []
        async for name in self._scan(f"{pattern}s:*", batch_size):
            batch.append(name)
            if len(batch) >= batch_size:
                if count := await self._purge_batch(batch, now):
                    yield count
                batch = []
        if batch and (count := await self._purge_batch(batch, now)):
            yield count
        async for name in self._scan(f"{pattern}u:*", batch_size):
            await self._user_sessions(name[len(self.prefix) + 3 : -1])

    async def _purge_batch(self, names: list[str], now: float) -> int:
        if self.cluster:  # cluster pipelines refuse scripts; each key is its own slot anyway
            done = 0
            for i in range(0, len(names), 32):  # within the client's per-node connection limit
                chunk = names[i : i + 32]
                done += sum(
                    await asyncio.gather(
                        *(self._script(_PURGE_SCRIPT, name, repr(now)) for name in chunk)
                    )
                )
            return done
        # Pipelines cannot recover NOSCRIPT, so load the script first.
        await self._call("SCRIPT", "LOAD", _PURGE_SCRIPT.source)
        stamp = repr(now)
        results: list[int] = await self._many(
            [("EVALSHA", _PURGE_SCRIPT.sha, 1, name, stamp) for name in names]
        )
        return sum(results)

    # -- counters -------------------------------------------------------------------------

    async def hit(
        self, key: str, *, window: int, now: float, limit: int | None = None
    ) -> tuple[int, float]:
        args = [repr(now), repr(now + window), window, "" if limit is None else limit]
        count, ends = await self._script(_HIT_SCRIPT, self._counter_key(key), *args)
        return int(count), float(ends)

    async def release(self, key: str, *, now: float) -> None:
        await self._script(_RELEASE_SCRIPT, self._counter_key(key), repr(now))

    async def peek(self, key: str, *, now: float) -> tuple[int, float] | None:
        count, ends = await self._call("HMGET", self._counter_key(key), "n", "e")
        if ends is None or float(ends) <= now:
            return None
        return int(count), float(ends)

    async def reset(self, key: str) -> None:
        await self._call("DEL", self._counter_key(key))
