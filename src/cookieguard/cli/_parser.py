"""The argument parser: every subcommand, its flags and its --help text."""

from __future__ import annotations

import argparse
import ipaddress
from typing import NoReturn

from cookieguard.cli._common import DEFAULT_DB, EXIT_STATUS_HELP, EXIT_USAGE

STORE_FORMS = "memory://, sqlite:///PATH, redis://HOST:PORT/DB or postgresql://USER@HOST:PORT/DB"


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line that points at --help (exit status 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _sub(
    commands: argparse._SubParsersAction[Parser], name: str, summary: str, text: str
) -> Parser:
    return commands.add_parser(name, help=summary, description=text, epilog=EXIT_STATUS_HELP)


def build_parser(version: str) -> Parser:
    """The argument parser of every subcommand."""
    parser = Parser(
        prog="cookieguard",
        description="Sessions, CSRF protection and login for ASGI apps: serve the demo site, "
        "manage its users, inspect and clean session stores.",
        epilog=EXIT_STATUS_HELP,
    )
    parser.add_argument("--version", action="version", version=f"cookieguard {version}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    _demo(commands)
    _adduser(commands)
    _users(commands)
    _sessions(commands)

    _sub(
        commands,
        "secret",
        "print a new random secret key",
        "Print a new random secret key, e.g. for COOKIEGUARD_SECRET_KEY.",
    )
    return parser


def _demo(commands: argparse._SubParsersAction[Parser]) -> None:
    """`cookieguard demo`: where to listen, what to store in, and uvicorn's choices."""
    demo = _sub(
        commands,
        "demo",
        "serve the demo site",
        "Serve the demo site: log in, add records, manage your sessions. The database is "
        "created when missing; on its first start a user 'demo' is created and its password "
        "printed.",
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
        help=f"session store: {STORE_FORMS} (default: the --db file)",
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


def _adduser(commands: argparse._SubParsersAction[Parser]) -> None:
    """`cookieguard adduser USERNAME`: the password comes from stdin or a prompt, never argv."""
    adduser = _sub(
        commands,
        "adduser",
        "create a user of the demo site",
        "Create a user. The password is read from stdin when it is not a terminal (one line; "
        "its trailing newline stripped), else asked for twice. A missing database is created "
        "(and a note says so on stderr).",
    )
    adduser.add_argument("username", metavar="USERNAME")
    adduser.add_argument("--db", default=DEFAULT_DB, help="the demo's SQLite file (%(default)s)")


def _users(commands: argparse._SubParsersAction[Parser]) -> None:
    users = _sub(
        commands,
        "users",
        "list users, set a password, wrap legacy hashes",
        "Maintain the users table of the demo's SQLite file (which must exist).",
    )
    actions = users.add_subparsers(dest="action", metavar="ACTION", parser_class=Parser)
    db_help = "the demo's SQLite file (%(default)s)"
    listing = _sub(actions, "list", "list the users", "List every user: id, username, created.")
    listing.add_argument("--db", default=DEFAULT_DB, help=db_help)
    listing.add_argument("--json", action="store_true", help="print a JSON array, for scripts")
    setpw = _sub(
        actions,
        "set-password",
        "give a user a new password, ending their sessions",
        "Set a user's password and end every session of that user (in the --db file, or in "
        "--store: name the store the site runs with). The password is read from stdin when it "
        "is not a terminal (one line), else asked for twice.",
    )
    setpw.add_argument("username", metavar="USERNAME")
    setpw.add_argument("--db", default=DEFAULT_DB, help=db_help)
    setpw.add_argument(
        "--store", metavar="URL", help=f"the site's session store: {STORE_FORMS} (default: --db)"
    )
    wrap = _sub(
        actions,
        "wrap-legacy",
        "wrap Django PBKDF2 hashes in Argon2id",
        "Replace every Django PBKDF2 hash by Argon2id of it (no password needed); each is "
        "upgraded to plain Argon2id at the user's next login. Prints the legacy_iterations "
        "that make failed logins cost the same for every account.",
    )
    wrap.add_argument("--db", default=DEFAULT_DB, help=db_help)


def _sessions(commands: argparse._SubParsersAction[Parser]) -> None:
    sessions = _sub(
        commands,
        "sessions",
        "list, revoke or purge stored sessions",
        "Inspect and clean a session store: the demo's (sessions in the --db file) or the one "
        "--store names. A SQLite file must exist; nothing is created.",
    )
    actions = sessions.add_subparsers(dest="action", metavar="ACTION", parser_class=Parser)

    def common(action: Parser, users: bool) -> None:
        action.add_argument(
            "--store", metavar="URL", help=f"the session store: {STORE_FORMS} (default: --db)"
        )
        action.add_argument(
            "--db",
            help=f"the demo's SQLite file, for sessions without --store"
            f"{' and for --user' if users else ''} (default: the --store file if it is "
            f"SQLite, else {DEFAULT_DB})",
        )

    def user_flags(action: Parser, required: bool) -> None:
        who = action.add_mutually_exclusive_group(required=required)
        who.add_argument("--user", metavar="USERNAME", help="the user, by username")
        who.add_argument("--user-id", metavar="ID", help="the user, by id (as 'users list' shows)")

    listing = _sub(
        actions,
        "list",
        "list a user's live sessions",
        "List a user's live sessions: key hash (SHA-256 of the id, not usable as a cookie), "
        "created, last seen, expiry (ISO 8601, UTC), browser.",
    )
    common(listing, users=True)
    user_flags(listing, required=True)
    listing.add_argument("--json", action="store_true", help="print a JSON array, for scripts")
    revoke = _sub(
        actions,
        "revoke",
        "end sessions by key hash or by user",
        "End sessions now: the ones named by key hash (as 'list' shows them; exit status 1 if "
        "one of them was not live), or every session of --user / --user-id.",
    )
    common(revoke, users=True)
    revoke.add_argument("key_hashes", nargs="*", metavar="KEY_HASH")
    user_flags(revoke, required=False)
    purge = _sub(
        actions,
        "purge",
        "delete expired sessions",
        "Delete expired sessions in batches (progress on a terminal), then print the total.",
    )
    common(purge, users=False)
    purge.add_argument(
        "--batch-size", type=_positive, default=1000, help="rows per batch (%(default)s)"
    )


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
