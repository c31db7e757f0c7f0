"""The demo's own database: one secret key however many servers start at once; record rules."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest

from cookieguard.demo.db import DemoDatabase, validate_record_text


def test_concurrent_first_starts_agree_on_one_secret_key(tmp_path: Path) -> None:
    path = str(tmp_path / "fresh.sqlite3")
    keys: list[str] = []
    barrier = threading.Barrier(8)

    def start() -> None:
        barrier.wait()
        db = DemoDatabase(path)
        keys.append(db.secret_key())
        db.close()

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(keys) == 8 and len(set(keys)) == 1
    assert len(keys[0]) == 64
    again = DemoDatabase(path)
    assert again.secret_key() == keys[0]  # and it survives restarts
    again.close()


async def test_records_are_per_user_and_oldest_first(tmp_path: Path) -> None:
    db = DemoDatabase(str(tmp_path / "r.sqlite3"))
    first = await db.add_record("1", "one")
    await db.add_record("2", "other user's")
    second = await db.add_record("1", "two")
    assert await db.records("1") == [(first, "one"), (second, "two")]
    db.close()


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("x", True),
        (" ", True),
        ("é" * 10_000, True),
        ("", False),
        ("x" * 10_001, False),
        (None, False),
        (5, False),
        ("\ud800", False),
    ],
)
def test_record_text_rules(value: object, ok: bool) -> None:
    assert (validate_record_text(value) is None) is ok


async def test_a_held_write_lock_is_waited_for_without_blocking_the_loop(tmp_path: Path) -> None:
    path = str(tmp_path / "locked.sqlite3")
    db = DemoDatabase(path)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process is writing
    released = asyncio.get_running_loop().call_later(0.1, other.execute, "COMMIT")
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    beat = asyncio.create_task(ticker())
    record_id = await db.add_record("1", "after the lock")
    beat.cancel()
    assert await db.records("1") == [(record_id, "after the lock")]
    assert ticks >= 3  # the loop kept running while the insert waited
    released.cancel()
    other.close()
    db.close()
