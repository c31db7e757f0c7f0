"""The demo's own database: one secret key however many servers start at once; record rules."""

from __future__ import annotations

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
    assert DemoDatabase(path).secret_key() == keys[0]  # and it survives restarts


async def test_records_are_per_user_and_oldest_first(tmp_path: Path) -> None:
    db = DemoDatabase(str(tmp_path / "r.sqlite3"))
    db.serve()
    first = await db.add_record("1", "one")
    await db.add_record("2", "other user's")
    second = await db.add_record("1", "two")
    assert await db.records("1") == [(first, "one"), (second, "two")]
    assert await db.count_records("1") == 2
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
