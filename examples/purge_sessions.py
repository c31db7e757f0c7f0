import asyncio
import time

from cookieguard.stores import open_store


async def purge(url: str) -> int:
    """Delete expired sessions in small batches; run it from cron or a periodic task."""
    store = open_store(url)
    try:
        total = 0
        async for deleted in store.purge_expired(now=time.time(), batch_size=1000):
            total += deleted
        return total
    finally:
        await store.close()


if __name__ == "__main__":
    print(f"purged {asyncio.run(purge('sqlite:///sessions.db'))} expired sessions")
