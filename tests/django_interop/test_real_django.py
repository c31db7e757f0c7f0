"""One login, both ways: a real Django 6 site and the cookieguard example on ONE database.

The Django site (tests/django_interop/project: django.contrib.auth + sessions + csrf, served by
``manage.py runserver``) and examples/django_migration.py (under uvicorn) share one SQLite
file or one PostgreSQL database (a fresh, randomly named one, dropped afterwards). httpx
clients play browsers: one cookie jar per browser, sent to both (cookies ignore ports, as a
site mounted beside another on one domain). What a user would notice is asserted: who each
side says is logged in, which forms are accepted, and what is left in ``django_session``.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from cookieguard.config import SessionConfig
from cookieguard.core.session import Session
from cookieguard.core.signing import KeyRing
from cookieguard.django import DjangoSessionBackend
from cookieguard.stores.purge import Purger
from tests.examples.conftest import EXAMPLES, token_in
from tests.store_backends import POSTGRES_DSN, free_port, missing, require_server

from .django_env import django_python

PROJECT = Path(__file__).parent / "project"
pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def django_exe() -> Path:
    python = django_python()
    if python is None:
        missing("no Python 3.12+ for Django 6 (see tests/django_interop/django_env.py)")
    return python


@dataclass
class Sites:
    django: str
    cookieguard: str
    location: str  # the cookieguard side's name for the database
    secret: str
    env: dict[str, str]
    python: Path

    def manage(self, *args: str) -> None:
        subprocess.run(
            [str(self.python), "-m", "django", *args],
            cwd=PROJECT,
            env=self.env,
            check=True,
            timeout=60,
            capture_output=True,
        )

    def count(self, *, expired: bool) -> int:
        """Rows of django_session that are expired (or live)."""
        op = "<" if expired else ">"
        if self.location.startswith("postgresql://"):
            import psycopg

            with psycopg.connect(self.location) as conn:
                row = conn.execute(
                    f"SELECT count(*) FROM django_session WHERE expire_date {op} now()"
                ).fetchone()
        else:
            with closing(sqlite3.connect(self.location)) as conn:
                now = str(time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()))
                row = conn.execute(
                    f"SELECT count(*) FROM django_session WHERE expire_date {op} ?", (now,)
                ).fetchone()
        assert row is not None
        return int(row[0])


def _wait(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 45
    while True:
        assert proc.poll() is None, log.read_text()
        try:
            httpx.get(f"{url}/whoami", timeout=2)
            return
        except httpx.TransportError:
            assert time.monotonic() < deadline, f"{url} did not start:\n{log.read_text()}"
            time.sleep(0.1)


@pytest.fixture(params=["sqlite", "postgres"])
def sites(request: pytest.FixtureRequest, django_exe: Path, tmp_path: Path) -> Iterator[Sites]:
    secret = secrets.token_urlsafe(40)
    env = {
        **os.environ,
        "PYTHONPATH": str(PROJECT),
        "DJANGO_SETTINGS_MODULE": "djsite_settings",
        "DJANGO_SECRET_KEY": secret,
    }
    drop: str | None = None
    if request.param == "postgres":
        require_server("PostgreSQL", "127.0.0.1", 5432)
        import psycopg

        name = f"cg_django_{secrets.token_hex(5)}"
        with psycopg.connect(POSTGRES_DSN, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        drop = name
        env["DJANGO_PG_NAME"] = name
        location = POSTGRES_DSN.rsplit("/", 1)[0] + f"/{name}"
    else:
        location = str(tmp_path / "db.sqlite3")
        env["DJANGO_SQLITE"] = location
    procs: list[subprocess.Popen[bytes]] = []
    logs = []
    try:
        subprocess.run(
            [str(django_exe), str(PROJECT / "djsite_setup.py"), "alice", "bob"],
            cwd=PROJECT,
            env=env,
            check=True,
            timeout=120,
            capture_output=True,
        )
        dj_port, cg_port = free_port(), free_port()
        commands = {
            "django": [
                str(django_exe), "-m", "django", "runserver", "--noreload", f"127.0.0.1:{dj_port}"
            ],
            "cookieguard": [
                sys.executable, "-m", "uvicorn", "django_migration:app", "--app-dir",
                str(EXAMPLES), "--host", "127.0.0.1", "--port", str(cg_port),
            ],
        }  # fmt: skip
        cg_env = {**env, "DJANGO_DB": location, "RECHECK": "1"}
        for name, argv in commands.items():
            log = tmp_path / f"{name}.log"
            logs.append(log.open("wb"))
            procs.append(
                subprocess.Popen(
                    argv,
                    cwd=tmp_path,
                    env=cg_env if name == "cookieguard" else env,
                    stdout=logs[-1],
                    stderr=subprocess.STDOUT,
                )
            )
        dj_url, cg_url = f"http://127.0.0.1:{dj_port}", f"http://127.0.0.1:{cg_port}"
        _wait(dj_url, procs[0], tmp_path / "django.log")
        _wait(cg_url, procs[1], tmp_path / "cookieguard.log")
        yield Sites(dj_url, cg_url, location, secret, env, django_exe)
        for name in ("django", "cookieguard"):
            text = (tmp_path / f"{name}.log").read_text(errors="replace")
            assert "Traceback" not in text, f"{name} logged a traceback:\n{text}"
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=15)
        for handle in logs:
            handle.close()
        if drop is not None:
            import psycopg

            with psycopg.connect(POSTGRES_DSN, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {drop} WITH (FORCE)")


def whoami(browser: httpx.Client, site: str) -> str | None:
    answer = browser.get(f"{site}/whoami")
    assert answer.status_code == 200, answer.text
    user: str | None = json.loads(answer.text)["user"]
    return user


def token(browser: httpx.Client, site: str, page: str = "/form") -> str:
    return token_in(browser.get(f"{site}{page}").text)


def post(browser: httpx.Client, site: str, path: str, **fields: str) -> httpx.Response:
    """A form POST with a token taken from `site`'s own page, as a browser submits one."""
    data = {"csrfmiddlewaretoken": token(browser, site), **fields}
    return browser.post(f"{site}{path}", data=data)


def log_in(browser: httpx.Client, site: str, user: str, password: str = "") -> None:
    page = browser.get(f"{site}/login")
    data = {
        "csrfmiddlewaretoken": token_in(page.text),
        "username": user,
        "password": password or f"{user} password",
    }
    answer = browser.post(f"{site}/login", data=data)
    assert answer.status_code == 200, answer.text


async def _expiring_cookieguard_session(sites: Sites) -> None:
    """A session written by cookieguard's backend that expires in one second."""
    backend = DjangoSessionBackend(sites.location, keys=KeyRing(sites.secret))
    now = time.time()
    session = Session(now)
    session["short"] = True
    session.set_expiry(1)
    outcome = session.plan_save(SessionConfig(absolute_timeout=None), now)
    await backend.commit(session, outcome, cookie=SessionConfig().cookie.spec(https=False))
    await backend.close()


async def _purge(sites: Sites) -> int:
    backend = DjangoSessionBackend(sites.location, keys=KeyRing(sites.secret))
    try:
        return await Purger(backend.store).run_once()
    finally:
        await backend.close()


async def test_one_login_shared_both_ways(sites: Sites) -> None:
    dj, cg = sites.django, sites.cookieguard
    clients = [httpx.Client(timeout=30) for _ in range(4)]
    a, b, c, d = clients
    try:
        # Logged in on Django: the cookieguard service knows the user, and the other way.
        log_in(a, dj, "alice")
        assert whoami(a, cg) == "alice" and whoami(a, dj) == "alice"
        log_in(b, cg, "bob")
        assert whoami(b, dj) == "bob" and whoami(b, cg) == "bob"
        assert whoami(c, dj) is None and whoami(c, cg) is None

        # A form token from either page is accepted by the other; none is refused by both.
        ok = a.post(f"{dj}/form", data={"csrfmiddlewaretoken": token(a, cg), "text": "x"})
        assert ok.status_code == 200 and ok.text == "Accepted"
        ok = a.post(f"{cg}/form", data={"csrfmiddlewaretoken": token(a, dj), "text": "y"})
        assert ok.status_code == 200 and ok.text == "Accepted"
        assert a.post(f"{dj}/form", data={"text": "z"}).status_code == 403
        assert a.post(f"{cg}/form", data={"text": "z"}).status_code == 403
        assert whoami(a, dj) == "alice" and whoami(a, cg) == "alice"  # writes kept the login

        # Logging out on either side ends both.
        assert post(b, dj, "/logout").status_code == 200
        assert whoami(b, cg) is None and whoami(b, dj) is None
        assert post(a, cg, "/logout").status_code == 200
        assert whoami(a, dj) is None and whoami(a, cg) is None

        # A password change on Django ends alice's other (cookieguard) session after the
        # re-check interval (1 s here); the changing session stays logged in on both sides.
        log_in(a, dj, "alice")
        log_in(c, cg, "alice")
        assert whoami(c, cg) == "alice" and whoami(c, dj) == "alice"
        changed = post(a, dj, "/password", new_password="alice's new password")
        assert changed.status_code == 200
        time.sleep(1.2)
        assert whoami(c, cg) is None  # cookieguard's re-check, not Django, ended it
        assert whoami(c, dj) is None
        assert whoami(a, cg) == "alice" and whoami(a, dj) == "alice"

        # And a password change on cookieguard ends bob's Django session; Django accepts
        # the hash cookieguard wrote.
        log_in(b, dj, "bob")
        log_in(c, cg, "bob")
        assert post(c, cg, "/password", new_password="bob's new password").status_code == 200
        assert whoami(b, dj) is None and whoami(b, cg) is None
        assert whoami(c, dj) == "bob" and whoami(c, cg) == "bob"
        log_in(d, dj, "bob", "bob's new password")
        assert whoami(d, cg) == "bob"

        # clearsessions and cookieguard's purge both delete the other side's expired rows
        # and nothing live.
        for _ in range(2):
            with httpx.Client(timeout=30) as fresh:  # Django: set_expiry(1)
                assert post(fresh, dj, "/short").status_code == 200
            await _expiring_cookieguard_session(sites)
        time.sleep(2.1)
        assert sites.count(expired=True) == 4
        live = sites.count(expired=False)
        sites.manage("clearsessions")
        assert sites.count(expired=True) == 0 and sites.count(expired=False) == live
        with httpx.Client(timeout=30) as fresh:
            assert post(fresh, dj, "/short").status_code == 200
        await _expiring_cookieguard_session(sites)
        time.sleep(2.1)
        assert await _purge(sites) == 2
        assert sites.count(expired=True) == 0 and sites.count(expired=False) == live
        assert whoami(a, dj) == "alice" and whoami(a, cg) == "alice"
        assert whoami(c, dj) == "bob" and whoami(c, cg) == "bob"
    finally:
        for client in clients:
            client.close()
