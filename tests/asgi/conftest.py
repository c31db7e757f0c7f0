"""Every async driver test runs on asyncio's loop and on uvloop (see tests/loops.py)."""

from tests.loops import pytest_asyncio_loop_factories  # noqa: F401
