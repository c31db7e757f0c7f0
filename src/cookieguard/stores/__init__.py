"""Session stores: one Protocol (`base.SessionStore`), one module per backend.

`open_store(url)` picks the backend from a URL, so apps and the CLI take one setting;
`open_sync_store(url)` does the same for threaded (WSGI) code, with the same URL rules.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from cookieguard.errors import ConfigError
from cookieguard.stores.base import SessionStore, SyncSessionStore

__all__ = ["open_store", "open_sync_store", "redact_url"]

_PASSWORD_PARAM = re.compile(r"((?:^|[?&\s])password\s*=\s*)('[^']*'|[^&\s]*)", re.IGNORECASE)
_URL_FORMS = (
    "memory://, sqlite:///relative/path.db, sqlite:////absolute/path.db, sqlite:///:memory:, "
    "redis://HOST:PORT/DB, rediss://..., redis+cluster://HOST:PORT (any node), "
    "postgresql://USER@HOST:PORT/DB"
)


def open_store(url: str, **options: Any) -> SessionStore:
    """Create the session store a URL names; nothing connects until first use.

    Args:
        url: ``memory://``; ``sqlite:///sessions.db`` (relative), ``sqlite:////var/lib/x.db``
            (absolute) or ``sqlite:///:memory:``; ``redis://HOST:PORT/DB`` (or ``rediss://``;
            ``redis+cluster://HOST:PORT``: any node of a Redis Cluster);
            ``postgresql://USER@HOST:PORT/DB``.
        **options: Passed to the store's constructor (e.g. ``table=`` or ``prefix=``).

    Raises:
        ConfigError: The URL is not one of the forms above, or the backend's driver is not
            installed (the message says which ``pip install`` fixes it).
    """
    kind, target, options = _parse(url, options)
    if kind == "memory":
        from cookieguard.stores.memory import MemoryStore

        return MemoryStore(**options)
    if kind == "sqlite":
        from cookieguard.stores.sqlite import SQLiteStore

        return SQLiteStore(target, **options)
    if kind == "redis":
        try:
            from cookieguard.stores.redis import RedisStore
        except ImportError:
            raise ConfigError(
                "redis store needs redis-py: pip install cookieguard[redis]"
            ) from None
        return RedisStore(target, **options)
    try:
        from cookieguard.stores.postgres import PostgresStore
    except ImportError:
        raise ConfigError(
            "postgres store needs psycopg: pip install cookieguard[postgres]"
        ) from None
    return PostgresStore(target, **options)


def open_sync_store(url: str, **options: Any) -> SyncSessionStore:
    """`open_store` for threaded (WSGI) code: the same URLs, checks and options, sync stores.

    Returns `SyncMemoryStore`, `SyncSQLiteStore`, `SyncRedisStore` (redis-py's blocking
    client) or `SyncPostgresStore` (a `psycopg_pool.ConnectionPool`).

    Raises:
        ConfigError: as `open_store`.
    """
    kind, target, options = _parse(url, options)
    if kind == "memory":
        from cookieguard.stores.memory import SyncMemoryStore

        return SyncMemoryStore(**options)
    if kind == "sqlite":
        from cookieguard.stores.sqlite_sync import SyncSQLiteStore

        return SyncSQLiteStore(target, **options)
    if kind == "redis":
        try:
            from cookieguard.stores.redis_sync import SyncRedisStore
        except ImportError:
            raise ConfigError(
                "redis store needs redis-py: pip install cookieguard[redis]"
            ) from None
        return SyncRedisStore(target, **options)
    try:
        from cookieguard.stores.postgres_sync import SyncPostgresStore
    except ImportError:
        raise ConfigError(
            "postgres store needs psycopg and psycopg_pool: pip install cookieguard[postgres]"
        ) from None
    return SyncPostgresStore(target, **options)


def _parse(url: str, options: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """(backend, what its constructor takes first, options) for a store URL; strict."""
    scheme = urlsplit(url).scheme.lower() if "://" in url else ""
    if scheme == "memory":
        if url.rstrip("/") != "memory:":
            raise ConfigError(f"memory store URL takes no host or path: use 'memory://' ({url!r})")
        return "memory", "", options
    if scheme == "sqlite":
        rest = url.split("://", 1)[1]
        if not rest.startswith("/") or len(rest) < 2 or "?" in rest or "#" in rest:
            raise ConfigError(
                f"sqlite URL needs a path after 'sqlite:///' (got {url!r}); e.g. "
                "'sqlite:///sessions.db' or 'sqlite:////var/lib/app/sessions.db'"
            )
        return "sqlite", rest[1:], options
    if scheme in ("redis", "rediss", "unix", "redis+cluster", "rediss+cluster"):
        if scheme.endswith("+cluster"):
            url = scheme.removesuffix("+cluster") + url[len(scheme) :]
            options = {"cluster": True, **options}
        return "redis", url, options
    if scheme in ("postgresql", "postgres"):
        return "postgres", url, options
    raise ConfigError(
        f"unsupported session store URL {redact_url(url)!r}; expected one of: {_URL_FORMS}"
    )


def redact_url(url: str) -> str:
    """`url` with any password replaced by ``***``, fit for logs, errors and start-up lines.

    Covers the password of the user-info part (``redis://:pw@host``, ``postgresql://u:pw@h``)
    and a libpq-style ``password=`` parameter in the query string or a key/value connection
    string. A URL that cannot be parsed is not shown at all.
    """
    url = _PASSWORD_PARAM.sub(r"\1***", url)
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "<unparseable URL>"
    if password is None:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{hostport}"))
