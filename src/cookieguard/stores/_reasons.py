"""Why a store could not be reached, in a few words a person can act on.

`StoreUnavailable` used to carry only an exception class name ("ConnectFailed"), which is the
same for a wrong port, an unknown database and an unknown role. These helpers turn the
driver's or the server's error into one short line ("connection refused on 127.0.0.1:5433",
'database "nope" does not exist'). The line goes into exception messages and logs, never into
an HTTP response, and `scrub` removes the URL's password from it in case a driver echoes it.
"""

from __future__ import annotations

import re
import socket

__all__ = ["os_reason", "pg_reason", "scrub", "text_reason"]

_LIMIT = 200
# libpq: 'connection to server at "127.0.0.1", port 5433 failed: Connection refused'
# or 'connection to server on socket "/run/postgresql/.s.PGSQL.5432" failed: ...'.
_PG_WHERE = re.compile(
    r'connection to server (?:at "(?P<host>[^"]*)"(?: \([^)]*\))?, port (?P<port>\d+)'
    r'|on socket "(?P<socket>[^"]*)") failed: (?P<why>.*)',
    re.S,
)


def text_reason(text: str) -> str:
    """The first line of an error text, trimmed, at most 200 characters."""
    line = text.strip().splitlines()[0].strip() if text.strip() else ""
    return line[:_LIMIT] or "no reason given"


def os_reason(exc: BaseException, where: str, timeout: float | None = None) -> str:
    """A socket error while connecting to `where` (``host:port`` or a socket path)."""
    if isinstance(exc, ConnectionRefusedError):
        return f"connection refused on {where}"
    if isinstance(exc, TimeoutError):
        limit = f" within {timeout:g} s" if timeout is not None else ""
        return f"no answer from {where}{limit}"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the host of {where} ({exc.strerror or exc})"
    if isinstance(exc, FileNotFoundError):
        return f"no socket at {where}"
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror.lower()} on {where}"
    return text_reason(str(exc)) if str(exc) else type(exc).__name__


def pg_reason(text: str) -> str:
    """libpq's report of a failed connection, reduced to its cause."""
    match = _PG_WHERE.search(text)
    if match is None:
        resolve = re.search(r"failed to resolve host '([^']*)'", text)
        if resolve:
            return f"cannot resolve host {resolve[1]!r}"
        return text_reason(text.removeprefix("connection failed: "))
    where = match["socket"] or f"{match['host']}:{match['port']}"
    why = text_reason(match["why"])
    if why.lower().startswith("connection refused"):
        return f"connection refused on {where}"
    if why.startswith("FATAL:"):
        return text_reason(why.removeprefix("FATAL:"))  # the server's own words
    if "timeout expired" in why.lower():
        return f"no answer from {where} (timeout expired)"
    return f"{why} ({where})"


def scrub(reason: str, password: str | None) -> str:
    """`reason` with every occurrence of `password` replaced by ``***``."""
    if password:
        reason = reason.replace(password, "***")
    return reason
