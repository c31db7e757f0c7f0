"""The app's own cost per request, without a server: each ASGI app called in-process.

    bench/.venvs/asgi/bin/python bench/inproc.py [--cookieguard-rev HEAD] [--requests 3000]

The server costs the same for every ASGI subject; this takes it out. Every subject is the
same app (sites/app.py) with its own security layer. Each workload's
request is built as an ASGI scope (the same headers the wrk runs send) and awaited on the
app directly, one at a time; the CPU time (process_time) per request is the median of 9
batches, the apps' batches interleaved so that a burst of another process hits them all.
The difference to `bare` is what sessions + CSRF + login cost per request, in µs. On a
shared machine the absolute figures still swing with other jobs (caches, memory bandwidth):
compare rows of one run, not runs. Stores other than
memory add their round trip's client-side CPU (the server side of Redis/PostgreSQL is
another process). Written to bench/results/inproc.md.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(1, str(BENCH / "sites"))

from client import _FIELD, _VALUE, Browser  # noqa: E402
from run import RESULTS, snapshot  # noqa: E402
from subjects import USERS  # noqa: E402

App = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
HOST = "127.0.0.1:8000"
ORIGIN = f"http://{HOST}"
W3_BODY = b'{"text": "a record written by the benchmark"}'


async def call(
    app: App, method: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes = b""
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    path, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", HOST.encode()), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    sent = False
    status, out_headers, chunks = 0, [], []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, out_headers
        if message["type"] == "http.response.start":
            status, out_headers = message["status"], list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, out_headers, b"".join(chunks)


class Jar(Browser):
    """Browser's cookie rules, driving an in-process app instead of a socket."""

    def __init__(self, app: App) -> None:
        super().__init__("127.0.0.1", 8000)
        self.app = app

    async def go(
        self, method: str, path: str, extra: dict[str, str] | None = None, body: bytes = b""
    ) -> tuple[int, bytes]:
        headers = [(k.lower().encode(), v.encode()) for k, v in (extra or {}).items()]
        if self.cookies:
            headers.append((b"cookie", self.cookie_header().encode()))
        status, got, data = await call(self.app, method, path, headers, body)
        for key, value in got:
            if key.lower() == b"set-cookie":
                self._store_cookie(value.decode("latin-1"))
        return status, data


def login_request(
    jar: Browser, page: bytes, username: str, password: str
) -> tuple[dict[str, str], bytes]:
    """The headers and body of the POST /login a browser sends from the form on `page`."""
    match = _FIELD.search(page.decode())
    value = _VALUE.search(match.group(0)) if match else None
    form = urllib.parse.urlencode(
        {
            "csrfmiddlewaretoken": value.group(1) if value else "",
            "username": username,
            "password": password,
            "next": "/records",
        }
    ).encode()
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "origin": ORIGIN,
        "sec-fetch-site": "same-origin",
        "x-csrftoken": jar.cookies.get("csrftoken", ""),
    }
    return headers, form


def check_login(jar: Browser, status: int, username: str) -> None:
    if status not in (302, 303) or "sessionid" not in jar.cookies:
        raise RuntimeError(f"login as {username} failed: {status}")


def seed_requests(reader: Browser) -> list[tuple[dict[str, str], bytes]]:
    """The 10 record-creating requests every subject is seeded with before measuring."""
    headers = {
        "content-type": "application/json",
        "origin": ORIGIN,
        "sec-fetch-site": "same-origin",
        "x-csrftoken": reader.cookies.get("csrftoken", ""),
    }
    texts = [f"Record {i + 1}: <seeded> & escaped" for i in range(10)]
    return [(headers, json.dumps({"text": text}).encode()) for text in texts]


async def login(app: App, username: str, password: str) -> Jar:
    jar = Jar(app)
    _, page = await jar.go("GET", "/login")
    headers, form = login_request(jar, page, username, password)
    status, _ = await jar.go("POST", "/login", headers, form)
    check_login(jar, status, username)
    return jar


def workloads(
    reader: Jar, writer: Jar
) -> dict[str, tuple[str, str, list[tuple[bytes, bytes]], bytes, int]]:
    def cookie(jar: Jar) -> list[tuple[bytes, bytes]]:
        return [(b"cookie", jar.cookie_header().encode())] if jar.cookies else []

    post_headers = [
        (b"content-type", b"application/json"),
        (b"accept", b"*/*"),
        (b"origin", ORIGIN.encode()),
        (b"sec-fetch-site", b"same-origin"),
        (b"sec-fetch-mode", b"cors"),
        (b"sec-fetch-dest", b"empty"),
        (b"x-csrftoken", writer.cookies.get("csrftoken", "").encode()),
        *cookie(writer),
    ]
    return {
        "W1": ("GET", "/login", [], b"", 200),
        "W2": ("GET", "/api/records", cookie(reader), b"", 200),
        "W3": ("POST", "/api/records", post_headers, W3_BODY, 201),
        "W4": ("GET", "/records", cookie(reader), b"", 200),
    }


BATCHES = 9


async def measure(
    apps: dict[str, tuple[App, Jar, Jar]], requests: int
) -> dict[str, dict[str, float]]:
    """Per workload, batches of every app interleaved; the median batch per app."""
    per_batch = max(1, requests // BATCHES)
    samples: dict[str, dict[str, list[float]]] = {name: {} for name in apps}
    for key in ("W1", "W2", "W3", "W4"):
        plans = {name: workloads(r, w)[key] for name, (_, r, w) in apps.items()}
        for name, (method, path, headers, body, expected) in plans.items():
            for _ in range(200):
                status, _, _ = await call(apps[name][0], method, path, headers, body)
                if status != expected:
                    raise RuntimeError(f"{name} {key}: {status}, expected {expected}")
        for _ in range(BATCHES):
            for name, (method, path, headers, body, _) in plans.items():
                app = apps[name][0]
                start = time.process_time()
                for _ in range(per_batch):
                    await call(app, method, path, headers, body)
                cpu = (time.process_time() - start) / per_batch * 1e6
                samples[name].setdefault(key, []).append(cpu)
    return {
        name: {k: statistics.median(v) for k, v in per.items()} for name, per in samples.items()
    }


async def build(name: str, workdir: Path) -> tuple[App, Jar, Jar]:
    """The subject's app: `sites/app.py` with the subject's security layer, logged in."""
    import app as site

    from subjects import all_subjects

    subject = next(s for s in all_subjects() if s.name == name)
    values = {"db": str(workdir / f"{name}.sqlite3"), "dir": str(workdir), "prefix": "", "port": ""}
    env = {k: subject.fill(v, values) for k, v in subject.env.items()}
    env.pop("BENCH_REDIS_PREFIX", None)
    env.pop("BENCH_PG_TABLE", None)
    security, db_path = env["BENCH_SECURITY"], env["BENCH_DB"]
    if security in ("starsessions", "floor"):
        from peerdb import PeerDB

        for user, password in USERS.items():
            PeerDB(db_path).add_user(user, password)
    elif security == "cookieguard":
        import cookieguard
        from cookieguard.auth import default_hasher

        users = cookieguard.SQLiteUserStore(db_path)
        for user, password in USERS.items():
            await users.create_user(user, default_hasher().hash(password))
    app: App = site.build(security, db_path, env["BENCH_STORE"], "inproc-secret-" + "x" * 32)
    if security == "none":
        reader, writer = Jar(app), Jar(app)
        reader.cookies["uid"], writer.cookies["uid"] = "reader", "writer"
    else:
        reader, writer = [await login(app, u, p) for u, p in USERS.items()]
    for headers, body in seed_requests(reader):
        status, _ = await reader.go("POST", "/api/records", headers, body)
        if status != 201:
            raise RuntimeError(f"{name}: seeding answered {status}")
    return app, reader, writer


async def amain(args: argparse.Namespace) -> list[str]:
    workdir = Path(tempfile.mkdtemp(prefix="cookieguard-inproc-"))
    revision = "work tree"
    if args.cookieguard_rev:
        revision = snapshot(args.cookieguard_rev, workdir / "cookieguard-src")
        sys.path.insert(0, os.environ["PYTHONPATH"])
    apps = {name: await build(name, workdir) for name in args.subjects.split(",")}
    gc.collect()
    gc.freeze()  # the apps' own objects: no collection walks them, whichever app is measured
    results = await measure(apps, args.requests)
    shutil.rmtree(workdir, ignore_errors=True)
    keys = ["W1", "W2", "W3", "W4"]
    lines = [
        f"# App CPU per request, in-process (cookieguard from the {revision})",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M %Z')}, {args.requests} requests per workload; "
        "µs of CPU per request, in brackets the difference to `bare`.",
        "",
        "| subject | " + " | ".join(keys) + " |",
        "|---|" + "---:|" * len(keys),
    ]
    for name, per in results.items():
        cells = []
        for k in keys:
            extra = ""
            if name != "bare" and "bare" in results:
                extra = f" ({per[k] - results['bare'][k]:+.0f})"
            cells.append(f"{per[k]:.0f}{extra}")
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--subjects",
        default="bare,starsessions-memory,cookieguard-memory,cookieguard-sqlite,"
        "cookieguard-redis,cookieguard-postgres",
    )
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--cookieguard-rev", metavar="REV")
    lines = asyncio.run(amain(parser.parse_args()))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "inproc.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
