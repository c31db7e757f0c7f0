"""`cookieguard sessions list | revoke | purge`, on the demo's store or any store URL.

The store is the one the demo uses with the same flags: sessions in the ``--db`` file unless
``--store URL`` names another. A SQLite file must already hold a sessions table (a typo must
not create an empty database that reports "0 sessions"), and ``memory://`` is refused: it
lives inside the server's process, where no other command can see it.
"""

from __future__ import annotations

import argparse
import re
import sys
import time

from cookieguard.auth.devices import device_name
from cookieguard.cli._common import CommandError, UsageError, iso, print_json, redact
from cookieguard.cli._files import has_table, require_file, user_id_of
from cookieguard.errors import ConfigError, StoreUnavailable
from cookieguard.stores.base import SessionStore

_KEY_HASH = re.compile(r"[0-9a-f]{64}")


def users_db(args: argparse.Namespace) -> str:
    """The users' database: --db, else the --store file when it is SQLite, else the default."""
    if args.db is not None:
        return str(args.db)
    url = args.store
    if url and url.lower().startswith("sqlite:///"):
        return str(url.split("://", 1)[1][1:])
    from cookieguard.cli._common import DEFAULT_DB

    return DEFAULT_DB


def describe(args: argparse.Namespace) -> str:
    """The store in words, for messages."""
    return redact(args.store) if args.store else f"sqlite:///{users_db(args)}"


def open_sessions(
    args: argparse.Namespace, *, missing_table_ok: bool = False
) -> SessionStore | None:
    """The session store of `args`, checked; None when `missing_table_ok` and the SQLite file
    has no sessions table yet (so there are no sessions to touch)."""
    from cookieguard.stores import open_store
    from cookieguard.stores.memory import MemoryStore
    from cookieguard.stores.sqlite import SQLiteStore

    store: SessionStore
    if args.store is None:
        store = SQLiteStore(users_db(args))
    else:
        try:
            store = open_store(args.store)
        except ConfigError as exc:
            raise UsageError(f"bad --store URL {redact(args.store)!r}: {exc}") from None
    if isinstance(store, MemoryStore):
        raise CommandError(
            "a memory:// store lives inside the server's process; no command can reach it"
        )
    if isinstance(store, SQLiteStore):
        require_file(store.path, "session database")
        if not has_table(store.path, store.table):
            if missing_table_ok:
                return None
            raise CommandError(
                f"{store.path} has no sessions table ({store.table}): is it the right file?"
            )
    return store


def target_user(args: argparse.Namespace) -> tuple[str, str] | None:
    """(user id, how to name it in messages) from --user or --user-id, or None."""
    if args.user_id is not None:
        return str(args.user_id), f"id {args.user_id}"
    if args.user is not None:
        return user_id_of(users_db(args), args.user), repr(args.user)
    return None


async def run(args: argparse.Namespace) -> int:
    """One `sessions` action; the store is closed whatever happens."""
    if args.action == "revoke":
        if not args.key_hashes and args.user is None and args.user_id is None:
            raise UsageError("name sessions by KEY_HASH, or pass --user USERNAME or --user-id ID")
        if args.key_hashes and (args.user is not None or args.user_id is not None):
            raise UsageError("give KEY_HASHes or a user, not both")
        for key_hash in args.key_hashes:
            if not _KEY_HASH.fullmatch(key_hash):
                raise UsageError(
                    f"{key_hash[:80]!r} is not a session key hash "
                    "(64 hex digits, as 'cookieguard sessions list' prints them)"
                )
    user = target_user(args) if args.action != "purge" else None
    store = open_sessions(args)
    assert store is not None
    try:
        if args.action == "list":
            assert user is not None
            return await _list(store, args, *user)
        if args.action == "revoke":
            return await _revoke(store, args, user)
        return await _purge(store, args)
    except StoreUnavailable as exc:
        raise CommandError(f"session store {describe(args)}: {exc}") from None
    finally:
        await store.close()


async def _list(store: SessionStore, args: argparse.Namespace, user_id: str, name: str) -> int:
    infos = await store.list_user(user_id, now=time.time())
    if args.json:
        print_json(
            [
                {
                    "key_hash": info.key_hash,
                    "user_id": info.user_id,
                    "created_at": iso(info.created_at),
                    "last_seen": iso(info.last_seen),
                    "expires_at": iso(info.expires_at),
                    "user_agent": info.user_agent,
                    "device": device_name(info.user_agent),
                    "client_address": info.client_address,
                }
                for info in infos
            ]
        )
        return 0
    for info in infos:
        print(
            f"{info.key_hash}  created {iso(info.created_at)}  last seen {iso(info.last_seen)}"
            f"  expires {iso(info.expires_at)}  {device_name(info.user_agent)}"
            f"  from {info.client_address or '-'}  {_printable(info.user_agent)}"
        )
    print(f"{len(infos)} live session(s) of user {name}", file=sys.stderr)
    return 0


def _printable(user_agent: str | None) -> str:
    # A User-Agent is client input: escape anything that could move the terminal's cursor.
    return ascii(user_agent)[1:-1] if user_agent else "-"


async def _revoke(
    store: SessionStore, args: argparse.Namespace, user: tuple[str, str] | None
) -> int:
    if user is not None:
        count = await store.delete_user(user[0])
        print(f"revoked {count} session(s) of user {user[1]}")
        return 0
    now, revoked, missing = time.time(), 0, []
    for key_hash in dict.fromkeys(args.key_hashes):
        # Only a live session counts: revoking one already ended is reported, not counted.
        if await store.load(key_hash, now=now) is None:
            missing.append(key_hash)
        else:
            await store.delete(key_hash)
            revoked += 1
    print(f"revoked {revoked} session(s)")
    if missing:
        shown = ", ".join(h[:12] + "..." for h in missing[:3])
        raise CommandError(
            f"{len(missing)} named session(s) were not live (already revoked, expired or "
            f"never existed): {shown}"
        )
    return 0


async def _purge(store: SessionStore, args: argparse.Namespace) -> int:
    # Progress is drawn in place on a terminal only; a pipe or a log gets the total alone.
    live = sys.stderr.isatty()
    total = 0
    async for batch in store.purge_expired(now=time.time(), batch_size=args.batch_size):
        total += batch
        if live:
            print(f"\rpurged {total} expired session(s)...", end="", file=sys.stderr, flush=True)
    if live:
        print("\r\033[K", end="", file=sys.stderr, flush=True)
    print(f"purged {total} expired session(s)")
    return 0
