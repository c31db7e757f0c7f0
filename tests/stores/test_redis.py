"""Redis specifics: key layout with cluster hash tags, native TTLs, purge pruning the user sets."""

from __future__ import annotations

from tests.store_backends import REDIS_URL, require_server

from cookieguard.stores.base import SessionRecord

NOW = 1_700_000_000.0


async def test_keys_use_hash_tags_and_native_ttl() -> None:
    require_server("Redis", "127.0.0.1", 6379)
    import secrets

    import redis.asyncio as aioredis
    from redis.crc import key_slot

    from cookieguard.stores.redis import RedisStore

    prefix = f"cgtest:{secrets.token_hex(6)}:"
    store = RedisStore(REDIS_URL, prefix=prefix)
    client = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
    key = "ab" * 32
    try:
        await store.create(key, SessionRecord({"cart": [1]}, "alice", NOW, NOW, NOW + 600))
        await store.hit("login:alice", window=60, now=NOW)
        names = sorted([k async for k in client.scan_iter(match=f"{prefix}*")])
        assert names == [
            f"{prefix}c:{{login:alice}}",
            f"{prefix}s:{{{key}}}",
            f"{prefix}u:{{alice}}",
        ]
        # One slot per session (its key hash), so the delta script is single-key on a cluster.
        assert key_slot(f"{prefix}s:{{{key}}}".encode()) == key_slot(key.encode())
        assert await client.hgetall(f"{prefix}s:{{{key}}}") == {
            "k:cart": "[1]",
            "m:u": "alice",
            "m:c": repr(NOW),
            "m:l": repr(NOW),
            "m:e": repr(NOW + 600),
        }
        assert 590_000 < await client.pttl(f"{prefix}s:{{{key}}}") <= 600_000
        assert 50_000 < await client.pttl(f"{prefix}c:{{login:alice}}") <= 60_000
        # A touch moves the TTL with the caller's expiry.
        assert await store.update(
            key, set_items={}, delete_keys=(), last_seen=NOW, expires_at=NOW + 7200, now=NOW
        )
        assert 7_190_000 < await client.pttl(f"{prefix}s:{{{key}}}") <= 7_200_000
        # When Redis expires the hash itself, purge prunes the user's index.
        await client.delete(f"{prefix}s:{{{key}}}")
        assert await client.smembers(f"{prefix}u:{{alice}}") == {key}
        assert [n async for n in store.purge_expired(now=NOW)] == []
        assert await client.exists(f"{prefix}u:{{alice}}") == 0
    finally:
        await store.close()
        keys = [k async for k in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
