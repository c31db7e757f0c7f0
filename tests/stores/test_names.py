"""Every store and users table takes the same table names: lower-case SQL identifiers only.

PostgreSQL folds unquoted names to lower case and SQLite compares them case-insensitively, so
``Sessions`` and ``sessions`` would be one table under two names; all four refuse the first
with the same message, and all four accept the same lower-case names.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cookieguard.auth._sqlite_users import SQLiteUserStore
from cookieguard.auth.postgres_users import PostgresUserStore
from cookieguard.errors import ConfigError
from cookieguard.stores.postgres import PostgresStore
from cookieguard.stores.redis import RedisStore
from cookieguard.stores.sqlite import SQLiteStore

DSN = "postgresql://postgres@127.0.0.1:5432/test"

MAKERS: dict[str, Callable[[Path, str], Any]] = {
    "SQLiteStore": lambda tmp, table: SQLiteStore(tmp / "s.db", table=table),
    "SQLiteUserStore": lambda tmp, table: SQLiteUserStore(tmp / "u.db", table=table),
    "PostgresStore": lambda tmp, table: PostgresStore(DSN, table=table),
    "PostgresUserStore": lambda tmp, table: PostgresUserStore(DSN, table=table),
}


@pytest.mark.parametrize("maker", MAKERS.values(), ids=MAKERS.keys())
@pytest.mark.parametrize(
    "table",
    ["Sessions", "APP_USERS", "x; DROP TABLE users", "1table", "", "a" * 42, "sessions\n", "é"],
)
def test_every_store_refuses_the_same_names(
    tmp_path: Path, maker: Callable[[Path, str], Any], table: str
) -> None:
    with pytest.raises(ConfigError, match="lower-case SQL identifier"):
        maker(tmp_path, table)


@pytest.mark.parametrize("maker", MAKERS.values(), ids=MAKERS.keys())
@pytest.mark.parametrize("table", ["sessions", "_app_users_2", "a" * 41])
def test_every_store_accepts_the_same_names(
    tmp_path: Path, maker: Callable[[Path, str], Any], table: str
) -> None:
    assert maker(tmp_path, table).table == table


def test_a_redis_prefix_may_not_carry_a_hash_tag() -> None:
    for prefix in ("{app}:", "app}", "{"):
        with pytest.raises(ConfigError, match="hash tags"):
            RedisStore("redis://127.0.0.1:6379/0", prefix=prefix)
    assert RedisStore("redis://127.0.0.1:6379/0", prefix="App:1:").prefix == "App:1:"
