"""Shared fixtures. Real PostgreSQL and Redis on loopback; in CI a missing server fails."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol, TypeVar

import pytest

T = TypeVar("T")


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
