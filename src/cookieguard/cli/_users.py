"""`cookieguard adduser` and `cookieguard users list | set-password | wrap-legacy`.

`adduser` creates the database when it is missing, because the demo's contract has it do so
(benchmarks and other implementations prepare users before the first start), but it says so
on stderr: a typo in ``--db`` is visible at once instead of at the next failed login. The other
commands need an existing database with a users table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from cookieguard.cli._common import CommandError, iso, print_json, read_password
from cookieguard.cli._files import list_users, require_file, require_users, user_id_of
from cookieguard.errors import InvalidUsername, StoreUnavailable, UserExists, UserNotFound


def adduser(username: str, db: str) -> int:
    """Create `username` in the demo's database (created, and announced, when missing)."""
    from cookieguard.auth._users import validate_username
    from cookieguard.demo._users import create_user

    try:
        validate_username(username)  # before asking for a password in vain
    except InvalidUsername as exc:
        raise CommandError(f"invalid username {username[:40]!r}: {exc}") from None
    password = read_password(username)
    new = not os.path.exists(db)
    try:
        user_id = asyncio.run(create_user(db, username, password))
    except UserExists:
        raise CommandError(f"user {username!r} already exists in {db}") from None
    except StoreUnavailable as exc:
        raise CommandError(f"cannot use database {db}: {exc}") from None
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    if new:
        print(f"cookieguard: note: {db} did not exist; created a new database", file=sys.stderr)
    print(f"created user {username!r} (id {user_id}) in {db}")
    return 0


def users_list(db: str, as_json: bool) -> int:
    """Every user of the demo's database, by id."""
    users = list_users(db)
    if as_json:
        print_json(
            [{"id": uid, "username": name, "created_at": iso(at)} for uid, name, at in users]
        )
        return 0
    for uid, name, at in users:
        print(f"{uid}\t{name}\tcreated {iso(at)}")
    print(f"{len(users)} user(s) in {db}", file=sys.stderr)
    return 0


def set_password(args: argparse.Namespace) -> int:
    """Give `args.username` a new password and end every session of that user."""
    from cookieguard.cli import _sessions

    db = args.db
    user_id = user_id_of(db, args.username)  # before asking for a password in vain
    sessions = _sessions.open_sessions(args, missing_table_ok=True)
    password = read_password(args.username)
    try:
        ended = asyncio.run(_set_password(db, user_id, args.username, password, sessions))
    except StoreUnavailable as exc:
        raise CommandError(f"{exc} (the password may be changed; run the command again)") from None
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    except UserNotFound:
        raise CommandError(f"user {args.username!r} was deleted meanwhile") from None
    where = _sessions.describe(args)
    print(f"password of {args.username!r} changed; {ended} session(s) ended in {where}")
    return 0


async def _set_password(
    db: str, user_id: str, username: str, password: str, sessions: object
) -> int:
    from cookieguard.auth._password_change import reset_password
    from cookieguard.auth._sqlite_users import SQLiteUserStore
    from cookieguard.stores.base import SessionStore

    store = sessions if isinstance(sessions, SessionStore) else None
    users = SQLiteUserStore(db)
    try:
        user = await users.get_by_id(user_id)
        if user is None:
            raise UserNotFound(username)
        _, ended = await reset_password(users, user, password, session_store=store)
    finally:
        await users.close()
        if store is not None:
            await store.close()
    return ended


def wrap_legacy(db: str) -> int:
    """Wrap the Django PBKDF2 hashes of the demo's users table in Argon2id."""
    require_file(db)
    require_users(db)
    return asyncio.run(_wrap_legacy(db))


async def _wrap_legacy(db: str) -> int:
    from cookieguard.auth._sqlite_users import SQLiteUserStore
    from cookieguard.auth.legacy import wrap_legacy_hashes

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
