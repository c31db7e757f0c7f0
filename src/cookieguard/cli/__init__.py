"""The `cookieguard` command: serve the demo, manage its users, inspect and clean session stores.

Every failure a user can cause (a wrong flag, a missing database, an unknown user, a store that
does not answer, a port already taken) ends with one line on stderr and a documented exit
status, never a traceback: 0 success, 1 failure, 2 usage error. `main` turns the library's
and the OS's errors into that line.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import sys
from collections.abc import Sequence

from cookieguard.cli._common import EXIT_FAILURE, EXIT_USAGE, CommandError, UsageError
from cookieguard.errors import CookieguardError

__all__ = ["main"]


def version() -> str:
    """The installed distribution's version (the package's own when run from a checkout)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("cookieguard")
    except PackageNotFoundError:
        from cookieguard import __version__

        return __version__


def _fail(message: str, status: int = EXIT_FAILURE) -> int:
    print(f"cookieguard: error: {message}", file=sys.stderr)
    return status


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    from cookieguard.cli._parser import build_parser

    parser = build_parser(version())
    args = parser.parse_args(argv)
    if args.command != "demo":
        # Failures become the one error line below; the library's log lines would repeat them.
        logging.disable(logging.CRITICAL)
    try:
        return _dispatch(args)
    except UsageError as exc:
        command = " ".join(
            filter(None, ["cookieguard", args.command, getattr(args, "action", None)])
        )
        return _fail(f"{exc} (see '{command} --help')", EXIT_USAGE)
    except CommandError as exc:
        return _fail(str(exc))
    except CookieguardError as exc:
        return _fail(str(exc) or type(exc).__name__)
    except sqlite3.Error as exc:
        return _fail(f"database {getattr(args, 'db', '')}: {exc}")
    except OSError as exc:
        return _fail(exc.strerror or str(exc))
    except KeyboardInterrupt:
        return 130


def _dispatch(args: object) -> int:
    import argparse

    assert isinstance(args, argparse.Namespace)
    if args.command is None:
        raise UsageError("choose a command: demo, adduser, users, sessions or secret")
    if args.command == "demo":
        from cookieguard.demo.serve import ServeError, serve

        try:
            return serve(
                args.host,
                args.port,
                args.db,
                args.store,
                access_log=args.access_log,
                forwarded_allow_ips=args.forwarded_allow_ips,
                loop=args.loop,
                http=args.http,
            )
        except ServeError as exc:
            raise CommandError(str(exc)) from None
    if args.command == "adduser":
        from cookieguard.cli._users import adduser

        return adduser(args.username, args.db)
    if args.command == "users":
        from cookieguard.cli import _users

        if args.action == "list":
            return _users.users_list(args.db, args.json)
        if args.action == "set-password":
            return _users.set_password(args)
        if args.action == "wrap-legacy":
            return _users.wrap_legacy(args.db)
        raise UsageError("choose an action: list, set-password or wrap-legacy")
    if args.command == "sessions":
        from cookieguard.cli import _sessions

        if args.action is None:
            raise UsageError("choose an action: list, revoke or purge")
        return asyncio.run(_sessions.run(args))
    from cookieguard.core.tokens import new_csrf_secret

    print(new_csrf_secret() + new_csrf_secret())
    return 0
