"""Shared fixtures. Real PostgreSQL and Redis on loopback; in CI a missing server fails.

`store` and `store_pair` give every server-side store kind (memory, SQLite, PostgreSQL,
Redis), each isolated per test (see tests/store_backends.py); `opened` closes what a test
opens.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pytest

from cookieguard.stores.base import SessionStore
from tests.store_backends import STORE_KINDS, store_backend

T = TypeVar("T")


@pytest.fixture(params=STORE_KINDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SessionStore]:
    """A fresh, empty store of each kind (memory, sqlite, postgres, redis)."""
    async with store_backend(request.param, tmp_path) as make:
        yield make()


@pytest.fixture(params=STORE_KINDS)
async def store_pair(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[SessionStore, SessionStore]]:
    """Two store instances on the same data, as two app processes would have."""
    async with store_backend(request.param, tmp_path) as make:
        yield make(), make()


class Opened(Protocol):
    """The `opened` fixture's type."""

    def __call__(self, thing: T, /) -> T: ...


@pytest.fixture
def opened() -> Iterator[Opened]:
    """`opened(store)` returns `store` and closes it when the test ends, passed or failed.

    A sync SQLite store keeps one connection per thread that used it; left to the garbage
    collector, Python 3.13 reports each as an unclosed database, in whichever later test the
    collection happens to run.
    """
    kept: list[Any] = []

    def keep(thing: T) -> T:
        kept.append(thing)
        return thing

    yield keep
    for thing in reversed(kept):
        thing.close()
