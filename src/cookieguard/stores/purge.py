"""A background task that deletes expired sessions and finished counter windows.

SQLite, PostgreSQL and the memory store keep a row until someone deletes it: every login
attempt leaves throttle counters, every visitor a session. `Purger` calls the store's
`purge_expired` every `interval` seconds, in bounded batches (each its own short
transaction), from the app's event loop. Start it in the app's lifespan; several app servers
sharing a store may each run one (the batches skip rows another purge holds).

A failed cycle (the store is down) is logged and retried at the next interval: a purge
never takes the app down. Redis expires keys by itself, so a store that says so
(``expires_keys_itself = True``) is left alone.

`SyncPurger` is the same job for a sync store (WSGI), in a daemon thread: the same
settings, the same jittered schedule (`_Schedule`) and the same logging.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
import time
from collections.abc import Callable
from types import TracebackType

from cookieguard.errors import ConfigError
from cookieguard.stores.base import SessionStore, SyncSessionStore

__all__ = ["Purger", "SyncPurger"]

_log = logging.getLogger("cookieguard.stores")


class _Schedule:
    """The settings and the timing both purgers share."""

    def __init__(
        self, store: object, interval: float, batch_size: int, clock: Callable[[], float]
    ) -> None:
        if interval <= 0 or batch_size < 1:
            raise ConfigError("Purger needs a positive interval and batch_size")
        self.interval = interval
        self.batch_size = batch_size
        self._clock = clock
        self._store = store

    @property
    def needed(self) -> bool:
        """False for stores that expire their keys themselves (Redis)."""
        return not getattr(self._store, "expires_keys_itself", False)

    def pause(self) -> float:
        """Seconds until the next cycle: `interval` plus up to 10% at random."""
        return self.interval + self.interval * secrets.randbelow(1001) / 10_000

    def report(self, count: int | None, exc: Exception | None) -> None:
        """Log a finished cycle: how many went, or why it failed (never raised)."""
        if exc is not None:
            _log.warning("purge of expired sessions failed: %s: %s", type(exc).__name__, exc)
        elif count:
            _log.info("purged %d expired sessions", count)


class Purger(_Schedule):
    """Runs `store.purge_expired` every `interval` seconds while started.

    Args:
        store: the session store (its throttle counters are purged with it).
        interval: seconds between two cycles (five minutes); each server adds up to 10%
            at random, so servers started together do not purge in lockstep.
        batch_size: rows deleted per transaction.
        clock: epoch seconds; what counts as expired (tests pass a fake).

    Use ``async with Purger(store):`` around the app's lifetime, or `start` and `stop`.
    """

    def __init__(
        self,
        store: SessionStore,
        *,
        interval: float = 300.0,
        batch_size: int = 1000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(store, interval, batch_size, clock)
        self.store = store
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> int:
        """One purge cycle now; returns how many sessions it deleted. Raises on failure."""
        total = 0
        async for count in self.store.purge_expired(now=self._clock(), batch_size=self.batch_size):
            total += count
        return total

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.pause())
            try:
                count = await self.run_once()
            except Exception as exc:  # logged, never raised: the next cycle tries again
                self.report(None, exc)
            else:
                self.report(count, None)

    def start(self) -> None:
        """Start the background task on the running loop (once; a no-op if not needed)."""
        if self._task is None and self.needed:
            self._task = asyncio.get_running_loop().create_task(
                self._loop(), name="cookieguard-purge"
            )

    async def stop(self) -> None:
        """Stop the task, waiting for a cycle in progress to be cancelled."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait([task])  # wait for it to end, without taking its cancellation

    async def __aenter__(self) -> Purger:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


class SyncPurger(_Schedule):
    """`Purger` for a sync store: runs `store.purge_expired` every `interval` seconds in a
    daemon thread while started.

    Args: as `Purger`.

    Use ``with SyncPurger(store):`` around the app's lifetime, or `start` and `stop` (e.g.
    at import of the WSGI module, and ``atexit``). A daemon thread never keeps the process
    alive; `stop` waits for a cycle in progress to finish its current batch.
    """

    def __init__(
        self,
        store: SyncSessionStore,
        *,
        interval: float = 300.0,
        batch_size: int = 1000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(store, interval, batch_size, clock)
        self.store = store
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def run_once(self) -> int:
        """One purge cycle now; returns how many sessions it deleted. Raises on failure."""
        total = 0
        for count in self.store.purge_expired(now=self._clock(), batch_size=self.batch_size):
            total += count
            if self._stopping.is_set():
                break
        return total

    def _loop(self) -> None:
        while not self._stopping.wait(self.pause()):
            try:
                count = self.run_once()
            except Exception as exc:  # logged, never raised: the next cycle tries again
                self.report(None, exc)
            else:
                self.report(count, None)

    def start(self) -> None:
        """Start the background thread (once; a no-op if not needed)."""
        if self._thread is None and self.needed:
            self._stopping.clear()
            self._thread = threading.Thread(
                target=self._loop, name="cookieguard-purge", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop the thread, waiting (up to `timeout`) for the batch in progress."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stopping.set()
            thread.join(timeout)

    def __enter__(self) -> SyncPurger:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
