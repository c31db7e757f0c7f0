"""`RedisStore` for threaded (WSGI) servers, on redis-py's blocking client.

Only the I/O is this module's: the keys, the Lua scripts, their arguments and the decoding
of replies are `_redis_layout`'s, shared with `RedisStore`, so both stores read and write
the same sessions. redis-py's connection pool is thread-safe: each call takes a connection
of its own for as long as it runs.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterator, Mapping
from typing import Any

from cookieguard.errors import ConfigError, StoreUnavailable
from cookieguard.stores import _redis_layout as layout
from cookieguard.stores._names import check_key_prefix
from cookieguard.stores._reasons import scrub, text_reason
from cookieguard.stores._urls import check_redis_url
from cookieguard.stores.base import KeyCollision, SessionInfo, SessionRecord

try:
    import redis
    from redis.exceptions import NoScriptError, RedisClusterException, RedisError
except ImportError:  # the optional driver; SyncRedisStore() says how to install it
    redis = None  # type: ignore[assignment]

__all__ = ["SyncRedisStore"]

_log = logging.getLogger("cookieguard.stores")


class SyncRedisStore:
    """Sessions and counters in Redis, standalone or Redis Cluster, for threaded code.

    Args: as `RedisStore` (`url`, `prefix`, `timeout`, `cluster`).
    """

    expires_keys_itself = True
    """Sessions and counters carry a TTL, so no background purger is needed."""

    def __init__(
        self, url: str, *, prefix: str = "cg:", timeout: float = 2.0, cluster: bool = False
    ) -> None:
        if redis is None:
            raise ConfigError("SyncRedisStore needs redis-py: pip install cookieguard[redis]")
        check_key_prefix(prefix)
        parsed = check_redis_url(url, cluster=cluster)
        self._password: str | None = parsed.get("password")
        self._url = url
        self.prefix = prefix
        self._timeout = timeout
        self.cluster = cluster
        self._client: redis.Redis | redis.RedisCluster | None = None

    def session_key(self, key_hash: str) -> str:
        """The Redis key of a session (its hash tag is the key hash: one slot each)."""
        return layout.session_key(self.prefix, key_hash)

    def _connect(self) -> redis.Redis | redis.RedisCluster:
        client = self._client
        if client is not None:
            return client
        options: dict[str, Any] = {
            "decode_responses": True,
            "socket_timeout": self._timeout,
            "socket_connect_timeout": self._timeout,
        }
        try:
            if self.cluster:  # learns the slot map here, so a failure is ours to report
                client = redis.RedisCluster.from_url(self._url, **options)
            else:
                client = redis.Redis.from_url(self._url, **options)
        except (RedisError, RedisClusterException) as exc:
            raise self._unavailable(exc) from None
        # Two threads may both get here; the loser's client is closed, the winner kept.
        if self._client is None:
            self._client = client
        elif self._client is not client:
            client.close()
        return self._client

    def _unavailable(self, exc: BaseException) -> StoreUnavailable:
        reason = scrub(text_reason(str(exc)) if str(exc) else type(exc).__name__, self._password)
        _log.warning("redis store unavailable (%s): %s", type(exc).__name__, reason)
        return StoreUnavailable(f"redis store unavailable: {reason}")

    def close(self) -> None:
        """Close redis-py's client and its pool; the next call reconnects."""
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def _script(self, script: layout.Script, key: str, *args: Any) -> Any:
        """EVALSHA on one key, loading the script if the server lost it (restart, flush)."""
        client: Any = self._client or self._connect()
        try:
            try:
                return client.execute_command("EVALSHA", script.sha, 1, key, *args)
            except NoScriptError:
                client.script_load(script.source)
                return client.execute_command("EVALSHA", script.sha, 1, key, *args)
        except (RedisError, RedisClusterException) as exc:
            raise self._unavailable(exc) from None

    def _call(self, command: str, *args: Any) -> Any:
        client: Any = self._client or self._connect()
        try:
            return client.execute_command(command, *args)
        except (RedisError, RedisClusterException) as exc:
            raise self._unavailable(exc) from None

    def _many(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        """Run commands in one non-transactional pipeline; any error reply fails the lot."""
        client: Any = self._client or self._connect()
        try:
            with client.pipeline(transaction=False) as pipe:
                for command in commands:
                    pipe.execute_command(*command)
                results: list[Any] = pipe.execute()
                return results
        except (RedisError, RedisClusterException) as exc:
            raise self._unavailable(exc) from None

    def _scan(self, match: str, count: int) -> Iterator[str]:
        client: Any = self._client or self._connect()
        try:
            yield from client.scan_iter(match=match, count=count)
        except (RedisError, RedisClusterException) as exc:
            raise self._unavailable(exc) from None

    # -- sessions -------------------------------------------------------------------------

    def load(self, key_hash: str, *, now: float) -> SessionRecord | None:
        """One HGETALL of the session hash; a hash past the caller's `expires_at` counts as gone
        even before Redis's TTL removes it.
        """
        fields: dict[str, str] = self._call("HGETALL", self.session_key(key_hash))
        return layout.record_of(fields, now)

    def create(self, key_hash: str, record: SessionRecord, *, replaces: str | None = None) -> None:
        """A Lua script creates the hash only if absent (else `KeyCollision`) and sets its TTL;
        then the user index; then `replaces` is deleted: two steps, as the keys live in different
        slots.
        """
        args = layout.create_args(record)
        if not self._script(layout.CREATE, self.session_key(key_hash), *args):
            raise KeyCollision(key_hash[:12])
        # Index after the hash exists: a list_user in between just doesn't see it yet.
        if record.user_id is not None:
            self._call("SADD", layout.user_key(self.prefix, record.user_id), key_hash)
        if replaces is not None:
            self.delete(replaces)

    def update(
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
        return bool(self._script(layout.UPDATE, self.session_key(key_hash), *args))

    def delete(self, key_hash: str) -> None:
        """A Lua script deletes the hash and returns its user; that user's index then drops it."""
        user_id = self._script(layout.DELETE, self.session_key(key_hash))
        if user_id:
            self._call("SREM", layout.user_key(self.prefix, user_id), key_hash)

    def _user_sessions(self, user_id: str) -> list[tuple[str, list[str | None]]]:
        """(key hash, metadata) of each live hash in the user's set; prunes stale members."""
        user_key = layout.user_key(self.prefix, user_id)
        members: Collection[str] = self._call("SMEMBERS", user_key)
        if not members:
            return []
        keys = sorted(members)
        metas = self._many([("HMGET", self.session_key(k), *layout.META) for k in keys])
        stale, live = layout.split_members(keys, metas)
        if stale:
            self._call("SREM", user_key, *stale)
        return live

    def list_user(self, user_id: str, *, now: float) -> list[SessionInfo]:
        """The user's index set, then one pipelined HMGET per member; members whose hash has
        gone are pruned from the set.
        """
        return layout.infos_of(user_id, self._user_sessions(user_id), now)

    def delete_user(self, user_id: str, *, keep: str | None = None) -> int:
        """DEL the user's hashes except `keep` in one pipeline, then drop them from its index."""
        doomed = [k for k, _ in self._user_sessions(user_id) if k != keep]
        if not doomed:
            return 0
        deleted: list[int] = self._many([("DEL", self.session_key(k)) for k in doomed])
        self._call("SREM", layout.user_key(self.prefix, user_id), *doomed)
        return sum(deleted)

    def purge_expired(self, *, now: float, batch_size: int = 1000) -> Iterator[int]:
        """Sweep what the caller's clock says is expired, then prune the per-user sets."""
        sessions, users = layout.scan_patterns(self.prefix)
        batch: list[str] = []
        for name in self._scan(sessions, batch_size):
            batch.append(name)
            if len(batch) >= batch_size:
                if count := self._purge_batch(batch, now):
                    yield count
                batch = []
        if batch and (count := self._purge_batch(batch, now)):
            yield count
        for name in self._scan(users, batch_size):
            self._user_sessions(layout.user_of_set_key(self.prefix, name))

    def _purge_batch(self, names: list[str], now: float) -> int:
        stamp = repr(now)
        if self.cluster:  # cluster pipelines refuse scripts; each key is its own slot anyway
            return sum(self._script(layout.PURGE_ONE, name, stamp) for name in names)
        # Pipelines cannot recover NOSCRIPT, so load the script first.
        self._call("SCRIPT", "LOAD", layout.PURGE_ONE.source)
        sha = layout.PURGE_ONE.sha
        results: list[int] = self._many([("EVALSHA", sha, 1, name, stamp) for name in names])
        return sum(results)

    # -- counters -------------------------------------------------------------------------

    def hit(
        self, key: str, *, window: int, now: float, limit: int | None = None
    ) -> tuple[int, float]:
        """One Lua script on the counter hash (count, window end, TTL), atomic on the server, so
        app servers never take a counter past `limit`.
        """
        args = layout.hit_args(window, now, limit)
        counter = layout.counter_key(self.prefix, key)
        return layout.counter_of(self._script(layout.HIT, counter, *args))

    def release(self, key: str, *, now: float) -> None:
        """A Lua script taking an event back from the live window (never below zero)."""
        self._script(layout.RELEASE, layout.counter_key(self.prefix, key), repr(now))

    def peek(self, key: str, *, now: float) -> tuple[int, float] | None:
        """One HMGET of the counter hash; None once the window has ended."""
        reply = self._call("HMGET", layout.counter_key(self.prefix, key), "n", "e")
        return layout.peek_of(reply, now)

    def reset(self, key: str) -> None:
        """DEL the counter hash."""
        self._call("DEL", layout.counter_key(self.prefix, key))
