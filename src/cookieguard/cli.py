"""The `cookieguard` command: serve the demo, manage its users, inspect and clean session stores.

Every failure a user can cause (a wrong flag, a path that cannot be written, a store that does
not answer, a port already taken) ends with one line on stderr and a non-zero exit status,
never a traceback: `main` turns the library's and the OS's errors into that line.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import ipaddress
import logging
import re
import sqlite3
import sys
import time
from collections.abc import Sequence
from typing import NoReturn

from cookieguard.core.tokens import new_csrf_secret
from cookieguard.errors import CookieguardError, StoreUnavailable, UserExists

DEFAULT_DB = "demo.sqlite3"
EXIT_FAILURE = 1
EXIT_USAGE = 2
_KEY_HASH = re.compile(r"[0-9a-f]{64}")


class CommandError(Exception):
    """A failure explained to the user in one line (the message), exit status 1."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line that points at --help."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = _Parser(
        prog="cookieguard",
        description="Sessions, CSRF protection and login for ASGI apps.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    demo = commands.add_parser(
        "demo",
        help="serve the demo site",
        description="Serve the demo site: log in, add records, manage your sessions.",
        epilog="On first start with no users, a user 'demo' is created and its password printed.",
    )
    demo.add_argument("--host", default="127.0.0.1", help="address to listen on (%(default)s)")
    demo.add_argument(
        "--port", type=_port, default=8000, help="port to listen on, 0 for any (%(default)s)"
    )
    demo.add_argument(
        "--db", default=DEFAULT_DB, help="SQLite file for users and records (%(default)s)"
    )
    demo.add_argument(
        "--store",
        metavar="URL",
        help="session store: memory://, sqlite:///PATH, redis://HOST:PORT/DB or "
        "postgresql://USER@HOST:PORT/DB (default: the --db file)",
    )
    demo.add_argument(
        "--access-log", action="store_true", help="log every request (off: it costs throughput)"
    )
    demo.add_argument(
        "--forwarded-allow-ips",
        metavar="IPS",
        type=_trusted_proxies,
        default=(),
        help="comma-separated addresses or networks of reverse proxies whose X-Forwarded-Proto "
        "and X-Forwarded-For are believed, e.g. 127.0.0.1 (default: none, the headers are "
        "ignored)",
    )
    demo.add_argument(
        "--loop",
        choices=("auto", "asyncio", "uvloop"),
        default="auto",
        help="event loop, as uvicorn's option: auto is uvloop when installed (%(default)s)",
    )
    demo.add_argument(
        "--http",
        choices=("auto", "h11", "httptools"),
        default="auto",
        help="HTTP parser, as uvicorn's option: auto is httptools when installed (%(default)s)",
    )

    adduser = commands.add_parser(
        "adduser",
        help="create a user of the demo site",
        description="Create a user. The password is read from stdin when it is not a terminal "
        "(one trailing newline stripped), else prompted for twice.",
    )
    adduser.add_argument("username")
    adduser.add_argument("--db", default=DEFAULT_DB, help="the demo's SQLite file (%(default)s)")

    users = commands.add_parser(
        "users",
        help="maintain the demo's users table",
        description="Maintain the users table of the demo's SQLite file.",
    )
    user_actions = users.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    wrap = user_actions.add_parser(
        "wrap-legacy",
        help="wrap Django PBKDF2 hashes in Argon2id",
        description="Replace every Django PBKDF2 hash by Argon2id of it (no password needed); "
        "each is upgraded to plain Argon2id at the user's next login. Prints the "
        "legacy_iterations that make failed logins cost the same for every account.",
    )
    wrap.add_argument("--db", default=DEFAULT_DB, help="the demo's SQLite file (%(default)s)")

    sessions = commands.add_parser(
        "sessions",
        help="list, revoke or purge stored sessions",
        description="Inspect and clean a session store.",
    )
    actions = sessions.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    store_help = "the store's URL, e.g. sqlite:///demo.sqlite3 or redis://127.0.0.1:6379/0"
    listing = actions.add_parser(
        "list", help="list a user's live sessions", description="List a user's live sessions."
    )
    listing.add_argument("--store", metavar="URL", required=True, help=store_help)
    listing.add_argument("--user", metavar="USER_ID", required=True, help="the user's id")
    revoke = actions.add_parser(
        "revoke",
        help="end sessions by key hash or by user",
        description="End sessions now: the ones named by key hash (as 'list' shows them), "
        "or every session of --user.",
    )
    revoke.add_argument("--store", metavar="URL", required=True, help=store_help)
    revoke.add_argument("key_hashes", nargs="*", metavar="KEY_HASH")
    revoke.add_argument("--user", metavar="USER_ID", help="end every session of this user")
    purge = actions.add_parser(
        "purge",
        help="delete expired sessions",
        description="Delete expired sessions in batches, showing progress.",
    )
    purge.add_argument("--store", metavar="URL", required=True, help=store_help)
    purge.add_argument(
        "--batch-size", type=_positive, default=1000, help="rows per batch (%(default)s)"
    )

    commands.add_parser(
        "secret",
        help="print a new random secret key",
        description="Print a new random secret key, e.g. for COOKIEGUARD_SECRET_KEY.",
    )
    return parser


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid port {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port {value} is not between 0 and 65535")
    return value


def _trusted_proxies(text: str) -> tuple[str, ...]:
    """Proxy addresses or networks, each checked: a typo must not silently trust nothing,
    and ``*`` (any client may claim any address and reset login throttling) is refused."""
    proxies = []
    for item in text.split(","):
        item = item.strip()
        try:
            if "/" in item:
                proxies.append(str(ipaddress.ip_network(item, strict=False)))
            else:
                proxies.append(str(ipaddress.ip_address(item)))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{item[:60]!r} is not an IP address or network (e.g. 127.0.0.1, 10.0.0.0/8)"
            ) from None
    return tuple(proxies)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


# -- adduser ------------------------------------------------------------------------------


def read_password(username: str) -> str:
    """The new user's password: from stdin when piped, else prompted for twice."""
    if not sys.stdin.isatty():
        password = sys.stdin.read()
        if password.endswith("\r\n"):
            password = password[:-2]
        elif password.endswith("\n"):
            password = password[:-1]
    else:
        password = getpass.getpass(f"Password for {username}: ")
        if getpass.getpass("Password (again): ") != password:
            raise CommandError("the passwords do not match; nothing was changed")
    if not password:
        raise CommandError("the password must not be empty")
    return password


def adduser(username: str, db: str) -> int:
    """Create `username` in the demo's database."""
    from cookieguard.auth.users import validate_username
    from cookieguard.demo.users import create_user

    try:
        validate_username(username)  # before asking for a password in vain
    except ValueError as exc:
        raise CommandError(f"invalid username {username[:40]!r}: {exc}") from None
    password = read_password(username)
    try:
        user_id = asyncio.run(create_user(db, username, password))
    except UserExists:
        raise CommandError(f"user {username!r} already exists in {db}") from None
    except StoreUnavailable as exc:
        raise CommandError(f"cannot use database {db}: {exc}") from None
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    print(f"created user {username!r} (id {user_id}) in {db}")
    return 0


# -- users ------------------------------------------------------------------------------


def wrap_legacy(db: str) -> int:
    """Wrap the Django PBKDF2 hashes of the demo's users table in Argon2id."""
    import os

    if not os.path.exists(db):
        raise CommandError(f"database {db} does not exist")
    return asyncio.run(_wrap_legacy(db))


async def _wrap_legacy(db: str) -> int:
    from cookieguard.auth.legacy import wrap_legacy_hashes
    from cookieguard.auth.sqlite_users import SQLiteUserStore

    users = SQLiteUserStore(db)
    try:
        report = await wrap_legacy_hashes(users)
    finally:
        await users.close()
    print(f"wrapped {report.wrapped} Django PBKDF2 hash(es) in Argon2id in {db}")
    if report.legacy:
        print(
            f"{report.legacy} legacy row(s) remain until their next login, with PBKDF2 up to "
            f"{report.max_iterations} iterations: run the site with "
            f"PasswordHasher(legacy_iterations={report.max_iterations}) so that a failed login "
            "costs the same for every account"
        )
    return 0


# -- sessions -----------------------------------------------------------------------------


def _when(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


async def _sessions(args: argparse.Namespace) -> int:
    from cookieguard.stores import open_store

    store = open_store(args.store)
    try:
        if args.action == "list":
            infos = await store.list_user(args.user, now=time.time())
            for info in infos:
                agent = info.user_agent or "-"
                print(
                    f"{info.key_hash}  created {_when(info.created_at)}  "
                    f"last seen {_when(info.last_seen)}  expires {_when(info.expires_at)}  {agent}"
                )
            print(f"{len(infos)} live session(s) of user {args.user}", file=sys.stderr)
        elif args.action == "revoke":
            if not args.key_hashes and args.user is None:
                raise CommandError("name sessions by KEY_HASH or pass --user USER_ID")
            for key_hash in args.key_hashes:
                if not _KEY_HASH.fullmatch(key_hash):
                    raise CommandError(
                        f"{key_hash[:80]!r} is not a session key hash "
                        "(64 hex digits, as 'cookieguard sessions list' prints them)"
                    )
            for key_hash in args.key_hashes:
                await store.delete(key_hash)
            count = len(args.key_hashes)
            if args.user is not None:
                count += await store.delete_user(args.user)
            print(f"revoked {count} session(s)")
        else:
            total = 0
            async for batch in store.purge_expired(now=time.time(), batch_size=args.batch_size):
                total += batch
                print(f"\rpurged {total} expired session(s)...", end="", file=sys.stderr)
            print(f"\rpurged {total} expired session(s)    ", file=sys.stderr)
    finally:
        await store.close()
    return 0


# -- main ---------------------------------------------------------------------------------


def _fail(message: str, status: int = EXIT_FAILURE) -> int:
    print(f"cookieguard: error: {message}", file=sys.stderr)
    return status


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command != "demo":
        # Failures become the one error line below; the library's log lines would repeat them.
        logging.disable(logging.CRITICAL)
    try:
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
            return adduser(args.username, args.db)
        if args.command == "users":
            if args.action is None:
                return _fail("choose an action: wrap-legacy", EXIT_USAGE)
            return wrap_legacy(args.db)
        if args.command == "sessions":
            if args.action is None:
                return _fail("choose an action: list, revoke or purge", EXIT_USAGE)
            return asyncio.run(_sessions(args))
        if args.command == "secret":
            print(new_csrf_secret() + new_csrf_secret())
            return 0
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
    parser.print_help(sys.stderr)
    return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
