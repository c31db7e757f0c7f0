"""The one rule for names the library builds into SQL and Redis keys: table names, key prefixes.

A table name is formatted into SQL text (values are always bound parameters), so it must be a
plain identifier. Lower-case only, whatever the backend: PostgreSQL folds an unquoted
``Sessions`` to ``sessions`` and SQLite compares names case-insensitively, so a mixed-case
name would never be the table it seems to name, and two settings differing only in case would
silently share one table. Existing mixed-case SQLite tables keep working under their
lower-case spelling. At most 41 characters: with the ``_counters`` suffix it stays within
PostgreSQL's 63.
"""

from __future__ import annotations

import re

from cookieguard.errors import ConfigError

_TABLE = re.compile(r"[a-z_][a-z0-9_]{0,40}")


def check_table_name(name: str) -> str:
    """`name` if it is an acceptable table name.

    Raises:
        ConfigError: it is not a lower-case SQL identifier of at most 41 characters.
    """
    if not isinstance(name, str) or not _TABLE.fullmatch(name):
        raise ConfigError(
            f"table name {name!r} must be a lower-case SQL identifier "
            "(a-z, 0-9 and _, not starting with a digit, at most 41 characters)"
        )
    return name


def check_key_prefix(prefix: str) -> str:
    """`prefix` if it can start every Redis key of a store.

    Raises:
        ConfigError: it holds ``{`` or ``}``, which would change the keys' cluster hash tag.
    """
    if not isinstance(prefix, str) or "{" in prefix or "}" in prefix:
        raise ConfigError("redis key prefix must not contain '{' or '}' (hash tags)")
    return prefix
