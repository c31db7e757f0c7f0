"""The demo's own database: one secret key however many servers start at once; record rules."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest

from cookieguard.demo._db import DemoDatabase, Record, validate_record_text


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
    first = await db.add_record("1", "one", now=1_700_000_000.0)
    await db.add_record("2", "other user's")
    second = await db.add_record("1", "two", now=1_700_000_060.0)
    assert await db.records("1") == [
        Record(first, "one", 1_700_000_000.0),
        Record(second, "two", 1_700_000_060.0),
    ]
    db.close()


async def test_only_the_owner_deletes_a_record(tmp_path: Path) -> None:
    db = DemoDatabase(str(tmp_path / "d.sqlite3"))
    mine = await db.add_record("1", "mine")
    theirs = await db.add_record("2", "theirs")
    assert await db.delete_record("1", theirs) is False
    assert [r.text for r in await db.records("2")] == ["theirs"]
    for absurd in (0, -1, 2**63, 10**30):  # beyond SQLite's INTEGER: no record, no error
        assert await db.delete_record("1", absurd) is False
    assert await db.delete_record("1", mine) is True
    assert await db.delete_record("1", mine) is False  # already gone
    assert await db.records("1") == []
    db.close()


OLD_SCHEMA = """
CREATE TABLE demo_records (
    id INTEGER PRIMARY KEY AUTOINCREMENT, user_id TEXT NOT NULL, text TEXT NOT NULL
);
CREATE INDEX demo_records_user ON demo_records (user_id, id);
INSERT INTO demo_records (user_id, text) VALUES ('1', 'written before dates');
"""


async def test_a_database_without_dates_is_migrated_in_place(tmp_path: Path) -> None:
    path = str(tmp_path / "old.sqlite3")
    old = sqlite3.connect(path)
    old.executescript(OLD_SCHEMA)
    old.close()
    barrier = threading.Barrier(4)
    opened: list[DemoDatabase] = []

    def start() -> None:  # several servers upgrading one file at once: one ALTER wins
        barrier.wait()
        opened.append(DemoDatabase(path))

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(opened) == 4
    db = opened[0]
    new = await db.add_record("1", "dated", now=1_700_000_000.0)
    [before, after] = await db.records("1")
    assert (before.text, before.created_at) == ("written before dates", None)
    assert after == Record(new, "dated", 1_700_000_000.0)
    for each in opened:
        each.close()


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
    assert [(r.id, r.text) for r in await db.records("1")] == [(record_id, "after the lock")]
    assert ticks >= 3  # the loop kept running while the insert waited
    released.cancel()
    other.close()
    db.close()
