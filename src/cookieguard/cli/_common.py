"""What every subcommand shares: exit statuses, the one-line failure, passwords, output.

Exit statuses: 0 success, 1 the command ran and failed (a missing database, an unknown user,
a store that does not answer), 2 the command line itself is wrong (unknown command or flag,
a missing or malformed argument). A failure is one line on stderr, never a traceback.
"""

from __future__ import annotations

import getpass
import json
import sys
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

EXIT_FAILURE = 1
EXIT_USAGE = 2
DEFAULT_DB = "demo.sqlite3"

EXIT_STATUS_HELP = (
    "exit status: 0 success; 1 the command failed (missing database, unknown user, store "
    "unreachable: one line on stderr says why); 2 usage error (unknown command or flag, "
    "missing or malformed argument)"
)


class CommandError(Exception):
    """A failure explained to the user in one line (the message), exit status 1."""


class UsageError(Exception):
    """A command line that cannot work, found after parsing; exit status 2."""


def iso(epoch: float) -> str:
    """ISO 8601 in UTC with its offset, to the second: unambiguous in a log or a script."""
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def print_json(value: Any) -> None:
    """One JSON document on stdout, for scripts."""
    json.dump(value, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")


def redact(url: str) -> str:
    """`url` without its password, fit for an error message."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "<unparseable URL>"
    if password is None:
        return url
    return parts._replace(netloc=parts.netloc.replace(f":{password}@", ":***@")).geturl()


def read_password(username: str) -> str:
    """A new password: one line from stdin when it is not a terminal, else asked twice.

    From a pipe, one trailing newline (or CRLF) is stripped and nothing else; a password
    spanning several lines is refused (most likely the same password piped twice).
    """
    if not sys.stdin.isatty():
        password = sys.stdin.read()
        if password.endswith("\r\n"):
            password = password[:-2]
        elif password.endswith("\n"):
            password = password[:-1]
        if "\n" in password or "\r" in password:
            raise CommandError("the password must be one line (stdin had several)")
    else:
        password = getpass.getpass(f"Password for {username}: ")
        if getpass.getpass("Password (again): ") != password:
            raise CommandError("the passwords do not match; nothing was changed")
    if not password:
        raise CommandError("the password must not be empty")
    return password
