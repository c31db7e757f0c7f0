"""What `RedisStore` and `SyncRedisStore` share: key layout, Lua scripts, encoding of records.

The two stores differ only in their client (the built-in pipelined RESP client or redis-py's
asyncio client; redis-py's blocking client), so everything the server sees is built here:
the keys, each script and its arguments, and how replies become records and counters. A
session written by one store is read by the other.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from typing import Any

from cookieguard.stores._json import decode, encode_value
from cookieguard.stores.base import SessionInfo, SessionRecord

META = ("m:u", "m:c", "m:l", "m:e", "m:a", "m:i")
"""The metadata fields of a session hash, in `meta_info`'s order."""
GLOB_SPECIAL = str.maketrans({c: "\\" + c for c in "*?[]\\"})


class Script:
    """A Lua script and its SHA-1 (for EVALSHA)."""

    __slots__ = ("sha", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()


# KEYS[1] session; ARGV: ttl_ms, then field/value pairs. Refuses to overwrite.
CREATE = Script("""
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
""")
# KEYS[1] session; ARGV: now, last_seen, expires_at, ttl_ms, n_deleted, deleted..., pairs...
# A missing or expired hash is left alone: a deleted session is never re-created.
UPDATE = Script("""
local e = redis.call('HGET', KEYS[1], 'm:e')
if not e or tonumber(e) <= tonumber(ARGV[1]) then return 0 end
local n = tonumber(ARGV[5])
if n > 0 then redis.call('HDEL', KEYS[1], unpack(ARGV, 6, 5 + n)) end
redis.call('HSET', KEYS[1], 'm:l', ARGV[2], 'm:e', ARGV[3], unpack(ARGV, 6 + n))
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
""")
# KEYS[1] session. Deletes it and returns its user id (or false), for the per-user set.
DELETE = Script("""
local u = redis.call('HGET', KEYS[1], 'm:u')
redis.call('DEL', KEYS[1])
return u
""")
# KEYS[1] session; ARGV[1] now. Deletes it only if expired by the caller's clock.
PURGE_ONE = Script("""
local e = redis.call('HGET', KEYS[1], 'm:e')
if e and tonumber(e) <= tonumber(ARGV[1]) then redis.call('DEL', KEYS[1]) return 1 end
return 0
""")
# KEYS[1] counter; ARGV: now, window end if new, window seconds, limit ('' for none).
# At the limit nothing is written and {limit + 1, end} comes back.
HIT = Script("""
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
""")
# KEYS[1] counter; ARGV[1] now. One event back from a live window, never below zero.
RELEASE = Script("""
local v = redis.call('HMGET', KEYS[1], 'n', 'e')
if v[2] and tonumber(v[2]) > tonumber(ARGV[1]) and tonumber(v[1]) > 0 then
  redis.call('HINCRBY', KEYS[1], 'n', -1)
end
return 0
""")
SCRIPTS = (CREATE, UPDATE, DELETE, PURGE_ONE, HIT, RELEASE)


def session_key(prefix: str, key_hash: str) -> str:
    """The Redis key of a session (its hash tag is the key hash: one slot each)."""
    return f"{prefix}s:{{{key_hash}}}"


def user_key(prefix: str, user_id: str) -> str:
    """The set of a user's session key hashes (its own slot)."""
    return f"{prefix}u:{{{user_id}}}"


def counter_key(prefix: str, key: str) -> str:
    """A throttling counter."""
    return f"{prefix}c:{{{key}}}"


def user_of_set_key(prefix: str, name: str) -> str:
    """The user id in a `user_key` found by SCAN."""
    return name[len(prefix) + 3 : -1]


def scan_patterns(prefix: str) -> tuple[str, str]:
    """SCAN globs of every session hash and every user set under `prefix`."""
    pattern = prefix.translate(GLOB_SPECIAL)
    return f"{pattern}s:*", f"{pattern}u:*"


def _ttl_ms(expires_at: float, now: float) -> int:
    return max(1, int((expires_at - now) * 1000))


def create_args(record: SessionRecord) -> list[Any]:
    """ARGV of `CREATE` for `record` (raises before any I/O if a value cannot be encoded)."""
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
    if record.client_address is not None:
        args += ("m:i", record.client_address)
    for name, value in record.data.items():
        args += (f"k:{name}", encode_value(value))
    return args


def update_args(
    set_items: Mapping[str, Any],
    delete_keys: Collection[str],
    last_seen: float,
    expires_at: float,
    now: float,
) -> list[Any]:
    """ARGV of `UPDATE` for one delta."""
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
    return args


def record_of(fields: Mapping[str, str], now: float) -> SessionRecord | None:
    """The live record in a session hash's fields (HGETALL), or None."""
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
        fields.get("m:i"),
    )


def split_members(
    keys: list[str], metas: list[list[str | None]]
) -> tuple[list[str], list[tuple[str, list[str | None]]]]:
    """(stale members to SREM, (key hash, metadata) of the live ones) of a user's set."""
    pairs = list(zip(keys, metas, strict=True))
    stale = [k for k, meta in pairs if meta[3] is None]
    return stale, [(k, meta) for k, meta in pairs if meta[3] is not None]


def infos_of(
    user_id: str, sessions: list[tuple[str, list[str | None]]], now: float
) -> list[SessionInfo]:
    """A user's live sessions, most recently seen first, from `split_members`' live part."""
    infos = [
        SessionInfo(key_hash, user_id, float(m[1]), float(m[2]), float(m[3]), m[4], m[5])  # type: ignore[arg-type]
        for key_hash, m in sessions
        if float(m[3]) > now  # type: ignore[arg-type]
    ]
    infos.sort(key=lambda info: info.last_seen, reverse=True)
    return infos


def hit_args(window: int, now: float, limit: int | None) -> list[Any]:
    """ARGV of `HIT`."""
    return [repr(now), repr(now + window), window, "" if limit is None else limit]


def counter_of(reply: list[Any]) -> tuple[int, float]:
    """(count, window end) of a `HIT` reply."""
    return int(reply[0]), float(reply[1])


def peek_of(reply: list[Any], now: float) -> tuple[int, float] | None:
    """(count, window end) of an HMGET n e reply, if the window is live."""
    count, ends = reply
    if ends is None or float(ends) <= now:
        return None
    return int(count), float(ends)
