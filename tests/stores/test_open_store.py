"""open_store(url): one setting picks the backend; bad URLs and missing drivers say what to do."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest

from cookieguard.errors import ConfigError
from cookieguard.stores import open_store, open_sync_store, redact_url
from cookieguard.stores.memory import MemoryStore
from cookieguard.stores.postgres import PostgresStore
from cookieguard.stores.redis import RedisStore
from cookieguard.stores.sqlite import SQLiteStore


def test_each_url_form_opens_its_store(tmp_path: Path) -> None:
    assert isinstance(open_store("memory://"), MemoryStore)
    relative = open_store("sqlite:///sessions.db")
    assert isinstance(relative, SQLiteStore) and relative.path == "sessions.db"
    absolute = open_store(f"sqlite:///{tmp_path}/s.db")
    assert isinstance(absolute, SQLiteStore) and absolute.path == f"{tmp_path}/s.db"
    in_memory = open_store("sqlite:///:memory:")
    assert isinstance(in_memory, SQLiteStore) and in_memory.path == ":memory:"
    redis = open_store("redis://127.0.0.1:6379/0", prefix="app:")
    assert isinstance(redis, RedisStore) and redis.prefix == "app:"
    postgres = open_store("postgresql://postgres@127.0.0.1:5432/test", table="app_sessions")
    assert isinstance(postgres, PostgresStore) and postgres.table == "app_sessions"
    assert isinstance(open_store("postgres://postgres@127.0.0.1/test"), PostgresStore)


def test_each_url_form_opens_its_sync_store(tmp_path: Path) -> None:
    from cookieguard.stores.memory import SyncMemoryStore
    from cookieguard.stores.postgres_sync import SyncPostgresStore
    from cookieguard.stores.redis_sync import SyncRedisStore
    from cookieguard.stores.sqlite_sync import SyncSQLiteStore

    assert isinstance(open_sync_store("memory://"), SyncMemoryStore)
    absolute = open_sync_store(f"sqlite:///{tmp_path}/s.db", table="app_sessions")
    assert isinstance(absolute, SyncSQLiteStore) and absolute.path == f"{tmp_path}/s.db"
    assert absolute.table == "app_sessions"
    in_memory = open_sync_store("sqlite:///:memory:")
    assert isinstance(in_memory, SyncSQLiteStore) and in_memory.path == ":memory:"
    redis = open_sync_store("redis://127.0.0.1:6379/0", prefix="app:")
    assert isinstance(redis, SyncRedisStore) and redis.prefix == "app:"
    cluster = open_sync_store("redis+cluster://127.0.0.1:7000")
    assert isinstance(cluster, SyncRedisStore) and cluster.cluster
    postgres = open_sync_store("postgresql://postgres@127.0.0.1:5432/test", table="app_sessions")
    assert isinstance(postgres, SyncPostgresStore) and postgres.table == "app_sessions"
    with pytest.raises(ConfigError, match="table name"):
        open_sync_store("sqlite:///x.db", table="Bad-Name")
    with pytest.raises(ConfigError, match="hash tags"):
        open_sync_store("redis://127.0.0.1:6379/0", prefix="{x}")


def test_sync_sqlite_memory_url_works_end_to_end() -> None:
    from cookieguard.stores.base import SessionRecord

    store = open_sync_store("sqlite:///:memory:")
    record = SessionRecord({"a": 1}, None, 1.0, 1.0, 100.0)
    store.create("k" * 64, record)
    assert store.load("k" * 64, now=2.0) == record
    assert list(store.purge_expired(now=200.0)) == [1]
    store.close()


async def test_sqlite_memory_url_works_end_to_end() -> None:
    from cookieguard.stores.base import SessionRecord

    store = open_store("sqlite:///:memory:")
    record = SessionRecord({"a": 1}, None, 1.0, 1.0, 100.0)
    await store.create("k" * 64, record)
    assert await store.load("k" * 64, now=2.0) == record
    assert [n async for n in store.purge_expired(now=200.0)] == [1]
    await store.close()


@pytest.mark.parametrize(
    ("url", "hint"),
    [
        ("", "unsupported session store URL"),
        ("sessions.db", "unsupported session store URL"),
        ("mysql://root@localhost/db", "unsupported session store URL"),
        ("sqlite://", "needs a path"),
        ("sqlite:///", "needs a path"),
        ("sqlite://relative.db", "needs a path"),
        ("memory://somewhere", "takes no host"),
        ("redis://127.0.0.1:notaport/0", "port must be a number"),
        ("redis://127.0.0.1:70000/0", "port must be a number"),
        ("redis://127.0.0.1:6379/abc", "database must be a number"),
        ("redis://127.0.0.1:6379/-1", "database must be a number"),
        ("redis://127.0.0.1:6379/0/1", "database must be a number"),
        ("redis:///0", "needs a host"),
        ("redis://127.0.0.1:6379/0?bogus=1", "unknown Redis URL option 'bogus'"),
        ("redis://127.0.0.1:6379/0?db=x", "invalid Redis URL"),
        ("redis+cluster://127.0.0.1:7000/2", "only database 0"),
        ("postgresql://postgres@127.0.0.1:notaport/test", "port must be a number"),
        ("postgresql://postgres@127.0.0.1:5432/test?nosuchoption=1", "nosuchoption"),
        ("postgresql://127.0.0.1:5432/test?sslmode", "invalid PostgreSQL"),
    ],
)
@pytest.mark.parametrize("opener", [open_store, open_sync_store])
def test_bad_urls_are_config_errors(url: str, hint: str, opener: Any) -> None:
    with pytest.raises(ConfigError, match=hint):
        opener(url)


def test_password_never_appears_in_the_error() -> None:
    with pytest.raises(ConfigError) as info:
        open_store("mysql://root:hunter2@localhost/db")
    assert "hunter2" not in str(info.value)
    assert "mysql://root:***@localhost/db" in str(info.value)


def test_a_keyword_connection_string_is_never_echoed() -> None:
    # "host=... password=..." is libpq's other syntax; open_store takes URLs only.
    with pytest.raises(ConfigError) as info:
        open_store("host=db password=hunter2 user=app")
    assert "hunter2" not in str(info.value)
    with pytest.raises(ConfigError) as info:
        PostgresStore("host=db password='hunter 2' bogus")
    assert "hunter" not in str(info.value)


def test_valid_options_still_open() -> None:
    assert isinstance(open_store("redis://127.0.0.1:6379"), RedisStore)
    assert isinstance(open_store("redis://127.0.0.1:6379/"), RedisStore)
    assert isinstance(open_store("redis://127.0.0.1:6379/3?socket_timeout=1"), RedisStore)
    assert isinstance(open_store("rediss://127.0.0.1:6379/0?ssl_cert_reqs=none"), RedisStore)
    assert isinstance(open_store("unix:///run/redis.sock?db=2"), RedisStore)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("mysql://root:hunter2@localhost/db", "mysql://root:***@localhost/db"),
        ("redis://:hunter2@cache:6379/0", "redis://:***@cache:6379/0"),
        ("redis://:hunter2@cache:notaport/0", "redis://:***@cache:notaport/0"),
        ("postgresql://a:hunter2@db/x?sslmode=require", "postgresql://a:***@db/x?sslmode=require"),
        ("postgresql://a@db/x?password=hunter2&sslmode=off", "postgresql://a@db/x?password=***"),
        ("host=db password=hunter2 dbname=x", "host=db password=*** dbname=x"),
        ("host=db password='hunter2 x' dbname=x", "host=db password=*** dbname=x"),
        ("redis://cache:6379/0", "redis://cache:6379/0"),
    ],
)
def test_redact_url_hides_every_form_of_password(url: str, shown: str) -> None:
    assert shown in redact_url(url)
    assert "hunter2" not in redact_url(url)


def test_an_unsupported_url_with_a_password_parameter_hides_it() -> None:
    with pytest.raises(ConfigError) as info:
        open_store("mysql://root@localhost/db?password=hunter2")
    assert "hunter2" not in str(info.value)


def test_bad_table_names_and_prefixes_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="identifier"):
        open_store(f"sqlite:///{tmp_path}/s.db", table="x; DROP TABLE users")
    with pytest.raises(ConfigError, match="identifier"):
        open_store("postgresql://postgres@127.0.0.1/test", table="Sessions")
    with pytest.raises(ConfigError, match="hash tags"):
        open_store("redis://127.0.0.1:6379/0", prefix="{app}:")


@pytest.mark.parametrize(
    ("url", "module", "extra"),
    [
        ("redis://127.0.0.1:6379/0", "redis", "cookieguard[redis]"),
        ("postgresql://postgres@127.0.0.1/test", "psycopg", "cookieguard[postgres]"),
    ],
)
def test_missing_driver_names_the_install_command(
    monkeypatch: pytest.MonkeyPatch, url: str, module: str, extra: str
) -> None:
    import cookieguard.stores

    backend = "redis" if module == "redis" else "postgres"
    # Forget the driver and the backend module (restored afterwards, package attribute too).
    monkeypatch.setattr(cookieguard.stores, backend, getattr(cookieguard.stores, backend))
    for name in list(sys.modules):
        if name in (module, f"cookieguard.stores.{backend}") or name.startswith(f"{module}."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, module, None)  # makes `import <module>` fail
    with pytest.raises(ConfigError, match=re.escape(f"pip install {extra}")):
        open_store(url)
