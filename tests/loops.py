"""Run the store, driver and demo suites on asyncio's own event loop and on uvloop.

uvloop is the loop of ``uvicorn[standard]``, which most deployments serve with, and its
transports and handles are not asyncio's classes: code that only works on one loop must not
pass. A conftest.py opts its directory in with
``pytest_asyncio_loop_factories = loops.pytest_asyncio_loop_factories``; pytest-asyncio then
runs each async test once per loop, with ids ``[asyncio]`` and ``[uvloop]``. Tests that start
servers as real processes use `SERVER_LOOPS` for uvicorn's ``--loop`` instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

import pytest

try:
    import uvloop
except ImportError:  # not built for this platform (Windows): asyncio's loop only
    uvloop = None  # type: ignore[assignment]

LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {"asyncio": asyncio.new_event_loop}
if uvloop is not None:
    LOOPS["uvloop"] = uvloop.new_event_loop

SERVER_LOOPS = tuple(LOOPS)
"""Values for the demo's ``--loop`` option, one server per loop."""


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    """The loops every async test of the opted-in directories runs on."""
    return LOOPS
