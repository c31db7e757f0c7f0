"""The Flask app called in-process, without a server: what `instructions.py --flask` counts.

The WSGI twin of `inproc.py`: each Flask subject (`sites/flask_app.py` with its security
layer) is built, logged in and seeded as the gunicorn runs do, and each workload's request is
an environ built from the same headers `inproc.workloads` sends (host, cookies, the fetch
headers of W3), handed to the app directly. gunicorn's own work (the accept, the HTTP parser,
the socket writes) is not in it.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(1, str(BENCH / "sites"))

from client import Browser  # noqa: E402
from inproc import HOST, check_login, login_request, seed_requests, workloads  # noqa: E402
from subjects import USERS, flask_subjects  # noqa: E402

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
__all__ = ["build", "call", "workloads"]


def call(
    app: WSGIApp, method: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes = b""
) -> tuple[int, list[tuple[str, str]], bytes]:
    """One request as a WSGI server would hand it over: status, headers and body."""
    path, _, query = path.partition("?")
    host, _, port = HOST.partition(":")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": host,
        "SERVER_PORT": port,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "50000",
        "HTTP_HOST": HOST,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    if body:
        environ["CONTENT_LENGTH"] = str(len(body))
    for name, value in headers:
        key = name.decode("latin-1").upper().replace("-", "_")
        environ[key if key == "CONTENT_TYPE" else f"HTTP_{key}"] = value.decode("latin-1")
    started: list[Any] = []

    def start_response(status: str, response_headers: list[tuple[str, str]], *_: Any) -> None:
        started[:] = [int(status[:3]), response_headers]

    chunks = app(environ, start_response)
    try:
        data = b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    return started[0], started[1], data


class Jar(Browser):
    """Browser's cookie rules, driving an in-process WSGI app instead of a socket."""

    def __init__(self, app: WSGIApp) -> None:
        super().__init__("127.0.0.1", 8000)
        self.app = app

    def go(
        self, method: str, path: str, extra: dict[str, str] | None = None, body: bytes = b""
    ) -> tuple[int, bytes]:
        headers = [(k.lower().encode(), v.encode()) for k, v in (extra or {}).items()]
        if self.cookies:
            headers.append((b"cookie", self.cookie_header().encode()))
        status, got, data = call(self.app, method, path, headers, body)
        for key, value in got:
            if key.lower() == "set-cookie":
                self._store_cookie(value)
        return status, data


def _login(app: WSGIApp, username: str, password: str) -> Jar:
    jar = Jar(app)
    _, page = jar.go("GET", "/login")
    headers, form = login_request(jar, page, username, password)
    status, _ = jar.go("POST", "/login", headers, form)
    check_login(jar, status, username)
    return jar


def build(name: str, workdir: Path) -> tuple[WSGIApp, Jar, Jar]:
    """The Flask subject's app, its users made, logged in and seeded with 10 records."""
    from peerdb import PeerDB

    import flask_app

    subject = next(s for s in flask_subjects() if s.name == name)
    values = {
        "db": str(workdir / f"{name}.sqlite3"),
        "dir": str(workdir),
        "prefix": "bench-ip:",
        "table": "bench_ip_sessions",
    }
    env = {k: subject.fill(v, values) for k, v in subject.env.items()}
    security, db_path = env["BENCH_SECURITY"], env["BENCH_DB"]
    if security == "flask-session":
        for user, password in USERS.items():
            PeerDB(db_path).add_user(user, password)
    elif security == "cookieguard":
        import cookieguard
        from cookieguard.auth import default_hasher

        users = cookieguard.SyncSQLiteUserStore(db_path)
        for user, password in USERS.items():
            users.create_user(user, default_hasher().hash(password))
        users.close()
    app: Any = flask_app.build(security, db_path, env["BENCH_STORE"], "inproc-secret-" + "x" * 32)
    if security == "none":
        reader, writer = Jar(app), Jar(app)
        reader.cookies["uid"], writer.cookies["uid"] = "reader", "writer"
    else:
        reader, writer = [_login(app, u, p) for u, p in USERS.items()]
    for headers, body in seed_requests(reader):
        status, _ = reader.go("POST", "/api/records", headers, body)
        if status != 201:
            raise RuntimeError(f"{name}: seeding answered {status}")
    return app, reader, writer
