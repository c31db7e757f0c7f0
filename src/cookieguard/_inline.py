"""One body of code for the async and the sync front doors: coroutines driven without a loop.

Login, logout, the user re-check, the session backends and the login throttle are written
once, as coroutines over async protocols. The WSGI driver runs the very same coroutines over
*inline views* of its blocking stores (`cookieguard.stores._inline`): every ``await`` there
reaches a method that returns at once, so the coroutine finishes on its first step and
`run_inline` collects the result, with no event loop and no thread hop. The two front doors
then differ only in awaiting, and no rule exists twice.

Two helpers let shared code stay correct in both modes: `gather` runs awaitables one after
the other inline, concurrently otherwise; `off_loop` runs a CPU-heavy function in place
inline (a WSGI worker thread may block: that is its job), on a worker thread otherwise. The
mode is a context variable that `run_inline` sets, not "is a loop running": a WSGI app may
well be called on a thread that runs a loop (an async test driving it, an adapter).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import Executor
from contextvars import ContextVar
from typing import Any, TypeVar

__all__ = ["gather", "inline", "off_loop", "run_inline"]

T = TypeVar("T")

_SUSPENDED = (
    "a sync cookieguard API awaited something that does not return at once: pass a sync "
    "store (open_sync_store, SyncSQLiteUserStore, your own SyncUserStore), not an async one"
)


def run_inline(coro: Coroutine[Any, Any, T]) -> T:
    """The result of `coro`, which must finish without ever suspending.

    Raises:
        TypeError: `coro` suspended (it awaited real I/O: an async store was passed to the
            sync API); the coroutine is closed first.
    """
    mode = _INLINE.set(True)
    try:
        coro.send(None)
    except StopIteration as stop:
        result: T = stop.value
        return result
    finally:
        _INLINE.reset(mode)
    coro.close()
    raise TypeError(_SUSPENDED)


_INLINE: ContextVar[bool] = ContextVar("cookieguard_inline", default=False)


def inline() -> bool:
    """True while `run_inline` drives the current coroutine."""
    return _INLINE.get()


async def gather(*awaitables: Awaitable[T]) -> list[T]:
    """One after the other inline; `asyncio.gather` otherwise."""
    if not _INLINE.get():
        return list(await asyncio.gather(*awaitables))
    results: list[T] = []
    try:
        for awaitable in awaitables:
            results.append(await awaitable)
    except BaseException:
        for left in awaitables[len(results) + 1 :]:
            if inspect.iscoroutine(left):
                left.close()  # never started: no "was never awaited" warning
        raise
    return results


async def off_loop(executor: Callable[[], Executor], func: Callable[..., T], *args: Any) -> T:
    """`func(*args)` in place inline; on `executor()`'s threads otherwise."""
    if _INLINE.get():
        return func(*args)
    return await asyncio.get_running_loop().run_in_executor(executor(), func, *args)
