"""Strict checks of Redis URLs and PostgreSQL connection strings, when a store is created.

The drivers are lenient where a typo should be an error: redis-py reads ``redis://host/abc``
as database 0 and passes an unknown query option to the socket at first use (a TypeError in
the middle of a request), and libpq accepts ``port=abc`` until it connects. A store built from
such a URL fails at construction with `ConfigError`, naming the part that is wrong and never
the password.
"""

from __future__ import annotations

import inspect
import re
from typing import Any
from urllib.parse import urlsplit

from cookieguard.errors import ConfigError

__all__ = ["check_postgres_dsn", "check_redis_url"]

_DB_PATH = re.compile(r"/?(\d{0,9})")
_REDIS_FORM = "redis://[USER:PASSWORD@]HOST[:PORT][/DB]"


def _port_of(url: str, form: str) -> None:
    try:
        urlsplit(url).port  # noqa: B018 -- the property validates
    except ValueError:
        raise ConfigError(f"the port must be a number from 1 to 65535 ({form})") from None


def _connection_options(connection_class: type) -> set[str]:
    """Keyword arguments the redis-py connection class (and its bases) accept."""
    names: set[str] = set()
    for klass in connection_class.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        for name, param in inspect.signature(init).parameters.items():
            if name != "self" and param.kind is not param.VAR_KEYWORD:
                names.add(name)
    return names


def check_redis_url(url: str, *, cluster: bool = False) -> dict[str, Any]:
    """redis-py's parse of `url` once every part of it is known to mean what it says.

    Raises:
        ConfigError: an unknown scheme, a port or database that is not a number, a path
            after the database, an unknown query option, or a database other than 0 for a
            Redis Cluster.
    """
    from redis.asyncio import connection

    scheme = urlsplit(url).scheme.lower()
    if scheme not in ("redis", "rediss", "unix"):
        raise ConfigError(f"a Redis URL starts with redis://, rediss:// or unix:// ({_REDIS_FORM})")
    parts = urlsplit(url)
    if parts.fragment:
        raise ConfigError(f"a Redis URL has no '#' part ({_REDIS_FORM})")
    _port_of(url, _REDIS_FORM)
    if scheme != "unix":
        if not parts.hostname:
            raise ConfigError(f"the Redis URL needs a host ({_REDIS_FORM})")
        db = _DB_PATH.fullmatch(parts.path)
        if db is None:
            raise ConfigError(
                f"the Redis database must be a number, 0 or more, after the host "
                f"({_REDIS_FORM}); got {parts.path[:40]!r}"
            )
    elif not parts.path:
        raise ConfigError("a unix:// Redis URL needs the socket's path: unix:///PATH?db=N")
    try:
        parsed: dict[str, Any] = dict(connection.parse_url(url))
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"invalid Redis URL: {exc}") from None
    klass = parsed.get("connection_class", connection.Connection)
    known = set(connection.URL_QUERY_ARGUMENT_PARSERS) | _connection_options(klass)
    unknown = sorted(set(parsed) - known - {"connection_class"})
    if unknown:
        raise ConfigError(f"unknown Redis URL option {unknown[0][:40]!r}")
    database = parsed.get("db", 0)
    if not isinstance(database, int) or database < 0:
        raise ConfigError(f"the Redis database must be a number, 0 or more ({_REDIS_FORM})")
    if cluster and database != 0:
        raise ConfigError("a Redis Cluster has only database 0")
    return parsed


def check_postgres_dsn(dsn: str) -> str | None:
    """Validate a libpq connection string or URL; returns its password (for scrubbing).

    Raises:
        ConfigError: libpq would not parse it, or a port is not a number from 1 to 65535.
    """
    import psycopg

    try:
        params = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as exc:
        detail = str(exc).strip().splitlines()[0] if "://" in dsn else "invalid syntax"
        password = _url_password(dsn)
        if password:
            detail = detail.replace(password, "***")
        raise ConfigError(f"invalid PostgreSQL connection string: {detail[:120]}") from None
    for port in str(params.get("port", "")).split(","):
        if port and not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
            raise ConfigError(
                f"the PostgreSQL port must be a number from 1 to 65535, got {port[:20]!r}"
            )
    secret = params.get("password")
    return str(secret) if secret else None


def _url_password(dsn: str) -> str | None:
    try:
        password = urlsplit(dsn).password
        return password if isinstance(password, str) else None
    except ValueError:
        return None
