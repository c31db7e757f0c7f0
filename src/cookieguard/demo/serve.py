"""`cookieguard demo`: check everything a user can get wrong, then serve with uvicorn.

Each check runs before the server starts so that a mistake costs one clear line instead of a
traceback: the database file is opened (and created), the session store is asked one
question, and the listening socket is bound here rather than inside uvicorn.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import socket
import sqlite3
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cookieguard import ConfigError, SessionStore, SQLiteStore, StoreUnavailable
from cookieguard.stores import open_store, redact_url

if TYPE_CHECKING:
    import uvicorn

    from cookieguard.demo._db import DemoDatabase

__all__ = ["ServeError", "serve"]

SECRET_KEY_ENV = "COOKIEGUARD_SECRET_KEY"  # noqa: S105 -- the variable name, not a key
DEMO_USERNAME = "demo"
MIN_SECRET_KEY = 16


class ServeError(Exception):
    """Why the demo cannot start, in one line."""


def open_session_store(db_path: str, store_url: str | None) -> SessionStore:
    """The store named by `store_url`, or sessions in the demo's own database file."""
    if store_url is None:
        return SQLiteStore(db_path)
    try:
        return open_store(store_url)
    except ConfigError as exc:
        raise ServeError(f"bad --store URL {redact_url(store_url)!r}: {exc}") from None


async def _probe(store: SessionStore) -> None:
    try:
        await store.peek("cookieguard:demo:probe", now=time.time())
    finally:
        await store.close()


def check_store(db_path: str, store_url: str | None) -> None:
    """Ask the store one question on a throwaway connection; raise ServeError if it fails."""
    store = open_session_store(db_path, store_url)
    logging.disable(logging.CRITICAL)  # the failure is reported below, in one line
    try:
        asyncio.run(_probe(store))
    except StoreUnavailable as exc:
        where = redact_url(store_url) if store_url else db_path
        raise ServeError(f"session store {where} cannot be reached: {exc}") from None
    finally:
        logging.disable(logging.NOTSET)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0: any free port)."""
    try:
        infos = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    # proto must be IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted connections only
    # then, and without it every response waits ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def _configure_logging(access_log: bool) -> None:
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if access_log:
        logging.getLogger("uvicorn.access").setLevel(logging.INFO)


def serve(
    host: str,
    port: int,
    db_path: str,
    store_url: str | None,
    *,
    access_log: bool = False,
    forwarded_allow_ips: Sequence[str] = (),
    loop: str = "auto",
    http: str = "auto",
) -> int:
    """Run the demo site until interrupted; returns the exit status.

    `forwarded_allow_ips`: addresses or networks of trusted reverse proxies. Requests from
    them take their scheme (so HTTPS Origins match and cookies get `Secure`) and client
    address (which login throttling counts) from X-Forwarded-Proto and X-Forwarded-For;
    requests from anywhere else, and all of them when it is empty, keep the socket's.

    `loop` and `http` pick uvicorn's event loop and HTTP parser as its own options do:
    "auto" takes uvloop and httptools when installed (``uvicorn[standard]``, which the demo
    extra brings), else asyncio and h11.

    Raises:
        ServeError: a setting that cannot work, explained in one line.
    """
    import uvicorn

    from cookieguard.demo._users import ensure_demo_user
    from cookieguard.demo.app import create_app

    _check_choices(loop=loop, http=http)
    db, secret_key = _open_database(db_path)
    check_store(db_path, store_url)
    sock = bind(host, port)
    # The first start of a database that gets this far creates a user to log in with, and
    # only one of several servers starting together does (the claim is one atomic insert).
    credentials = None
    if db.claim("demo_user"):
        credentials = asyncio.run(ensure_demo_user(db_path, DEMO_USERNAME))
    _configure_logging(access_log)
    app = create_app(db, open_session_store(db_path, store_url), secret_key=secret_key)
    _announce(sock, db_path, store_url, credentials, forwarded_allow_ips)
    config = _uvicorn_config(app, access_log, forwarded_allow_ips, loop=loop, http=http)
    uvicorn.Server(config).run(sockets=[sock])
    return 0


def _check_choices(*, loop: str, http: str) -> None:
    """An explicit ``--loop``/``--http`` whose module is missing fails here, not in uvicorn."""
    for option, choice in (("--loop", loop), ("--http", http)):
        if choice != "auto" and importlib.util.find_spec(choice) is None:
            raise ServeError(f"{option} {choice} needs {choice}: pip install {choice}")


def _open_database(db_path: str) -> tuple[DemoDatabase, str]:
    """The demo's database (created if missing) and the secret key to sign with.

    The key comes from the environment, else from the database (made on its first start),
    so that several servers on one database accept each other's sessions.
    """
    from cookieguard.demo._db import DemoDatabase

    if db_path == ":memory:" or db_path.startswith("file:"):
        raise ServeError("--db needs a file path: the site and cookieguard adduser share it")
    try:
        db = DemoDatabase(db_path)
        secret_key = os.environ.get(SECRET_KEY_ENV) or db.secret_key()
    except sqlite3.Error as exc:
        raise ServeError(f"cannot use database {db_path}: {exc}") from None
    if len(secret_key.encode()) < MIN_SECRET_KEY:
        raise ServeError(
            f"{SECRET_KEY_ENV} must be at least {MIN_SECRET_KEY} bytes; "
            "make one with: cookieguard secret"
        )
    return db, secret_key


def _announce(
    sock: socket.socket,
    db_path: str,
    store_url: str | None,
    credentials: tuple[str, str] | None,
    forwarded_allow_ips: Sequence[str],
) -> None:
    """Tell the person who started the demo where it listens, stores, and how to log in."""
    actual_host, actual_port = sock.getsockname()[:2]
    shown_host = f"[{actual_host}]" if ":" in actual_host else actual_host
    where = redact_url(store_url) if store_url else db_path
    print(f"cookieguard demo: users and records in {db_path}; sessions in {where}")
    if credentials is not None:
        print(f"  created user {credentials[0]!r} with password {credentials[1]!r}")
    print(f"  add users with: cookieguard adduser NAME --db {db_path}")
    if forwarded_allow_ips:
        print(f"  trusting X-Forwarded-Proto/-For from {', '.join(forwarded_allow_ips)}")
    # The last line, flushed: scripts and tests wait for it.
    print(f"cookieguard demo: serving http://{shown_host}:{actual_port}/", flush=True)


def _uvicorn_config(
    app: Any, access_log: bool, forwarded_allow_ips: Sequence[str], *, loop: str, http: str
) -> uvicorn.Config:
    """How uvicorn runs the demo: no logging setup of its own, no Server header."""
    import uvicorn

    return uvicorn.Config(
        app,
        log_config=None,
        access_log=access_log,
        lifespan="on",
        server_header=False,
        # Only the proxies named on the command line are believed: a client-chosen
        # X-Forwarded-For must not become the address that login throttling counts. The
        # list is always passed, so uvicorn's FORWARDED_ALLOW_IPS variable (and its default,
        # loopback) never widens it.
        proxy_headers=bool(forwarded_allow_ips),
        forwarded_allow_ips=list(forwarded_allow_ips),
        timeout_graceful_shutdown=5,
        loop=loop,
        http=http,
    )
