"""The servers under test: how to prepare, start and log in to each one.

Every ASGI subject serves the same app (`sites/app.py`) and differs only in its security layer
(none, cookieguard's `CookieGuard` over a store, starsessions + starlette-csrf); all run from one
environment (bench/.venvs/asgi), one worker pinned to CPU 0, under the server picked by
`SERVERS`: uvicorn with uvloop + httptools (what `uvicorn[standard]` installs), granian, or
uvicorn with h11 + asyncio. The Flask subjects (`flask_subjects`, `--server gunicorn`) serve
the same app on Flask (`sites/flask_app.py`) under gunicorn's sync workers, from
bench/.venvs/flask. Django keeps its own site under gunicorn's sync worker.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ASGI_VENV = BENCH / ".venvs" / "asgi"
DJANGO_VENV = BENCH / ".venvs" / "django"
FLASK_VENV = BENCH / ".venvs" / "flask"
PEERS = BENCH / "sites"
DJANGO_SITE = PEERS / "django_site"
SERVER_CPU = "0"
# Server name -> how it is started (the app factory and port are filled in by `asgi_command`).
SERVERS = {
    "uvicorn": "uvicorn, uvloop + httptools",
    "granian": "granian (Rust HTTP, uvloop)",
    "uvicorn-h11": "uvicorn, asyncio + h11",
    "gunicorn": "gunicorn sync workers (the Flask subjects)",
}
USERS = {"reader": "reader-password-1", "writer": "writer-password-1"}
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@dataclass
class Subject:
    """One server configuration.

    `command` and `env` may contain {port}, {db}, {dir} and {prefix}, filled in at start.
    `prepare` creates the database and the bench users before the server starts.
    `bare` subjects have no login: the user is chosen by an unsigned `uid` cookie.
    """

    name: str
    label: str
    command: list[str]  # empty for ASGI subjects: `asgi_command` builds it for the server
    prepare: Callable[[Subject, Path, dict[str, str]], None]
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path = BENCH
    bare: bool = False
    redis_prefix: str | None = None
    pg_table: str | None = None

    @property
    def asgi(self) -> bool:
        return not self.command

    def fill(self, text: str, values: dict[str, str]) -> str:
        return text.format(**values)


def _run(cmd: list[str], env: dict[str, str], cwd: Path, stdin: str | None = None) -> None:
    result = subprocess.run(
        cmd, input=stdin, env={**os.environ, **env}, cwd=cwd, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {result.stderr.strip()[-500:]}")


def _prepare_app(subject: Subject, workdir: Path, values: dict[str, str]) -> None:
    """Create the bench users where the subject's layer looks them up (none: no users)."""
    security = subject.env.get("BENCH_SECURITY", "none")
    if security == "none":
        return
    for name, password in USERS.items():
        cmd = [str(ASGI_VENV / "bin" / "python"), "app.py", "adduser", security, name, values["db"]]
        _run(cmd, {}, PEERS, password + "\n")


def _prepare_flask(subject: Subject, workdir: Path, values: dict[str, str]) -> None:
    """Create the bench users where the Flask subject's layer looks them up."""
    security = subject.env["BENCH_SECURITY"]
    if security == "none":
        return
    python = str(FLASK_VENV / "bin" / "python")
    for name, password in USERS.items():
        cmd = [python, "flask_app.py", "adduser", security, name, values["db"]]
        _run(cmd, {}, PEERS, password + "\n")


def _prepare_django(subject: Subject, workdir: Path, values: dict[str, str]) -> None:
    env = {k: subject.fill(v, values) for k, v in subject.env.items()}
    python = str(DJANGO_VENV / "bin" / "python")
    _run([python, "manage.py", "migrate", "--noinput", "-v0"], env, DJANGO_SITE)
    for name, password in USERS.items():
        _run([python, "manage.py", "adduser", name], env, DJANGO_SITE, password + "\n")


def asgi_command(server: str, workers: int = 1) -> list[str]:
    """The command that serves `sites/app.py` under `server` ({port} filled in at start)."""
    python = str(ASGI_VENV / "bin" / "python")
    if server == "granian":
        return [
            python, "-m", "granian", "--interface", "asgi", "--factory",
            "--working-dir", str(PEERS), "--host", "127.0.0.1", "--port", "{port}",
            "--workers", str(workers), "--loop", "uvloop", "--log-level", "warning",
            "--no-ws", "app:create_app",
        ]  # fmt: skip
    loop, http = ("uvloop", "httptools") if server == "uvicorn" else ("asyncio", "h11")
    return [
        python, "-m", "uvicorn", "--app-dir", str(PEERS), "--factory", "app:create_app",
        "--host", "127.0.0.1", "--port", "{port}", "--log-level", "warning",
        "--loop", loop, "--http", http, "--workers", str(workers), "--no-access-log",
    ]  # fmt: skip


def _gunicorn() -> list[str]:
    return [
        str(DJANGO_VENV / "bin" / "gunicorn"),
        "--chdir",
        str(DJANGO_SITE),
        "--workers",
        "1",
        "--worker-class",
        "sync",
        "--bind",
        "127.0.0.1:{port}",
        "--log-level",
        "warning",
        "benchsite.wsgi:application",
    ]


def _flask(name: str, label: str, security: str, store: str, **extra: str | None) -> Subject:
    """A Flask subject: sites/flask_app.py under gunicorn's sync workers."""
    command = [
        str(FLASK_VENV / "bin" / "gunicorn"), "--chdir", str(PEERS), "--workers", "{workers}",
        "--worker-class", "sync", "--bind", "127.0.0.1:{port}", "--log-level", "warning",
        "flask_app:create_app()",
    ]  # fmt: skip
    subject = _app(name, label, security, store, **extra)
    subject.command, subject.prepare, subject.cwd = command, _prepare_flask, PEERS
    return subject


def flask_subjects() -> list[Subject]:
    """The Flask subjects (`--server gunicorn`), the no-security ceiling first."""
    return [
        _flask("bare", "Flask, no security", "none", ""),
        _flask(
            "flask-session-memory",
            "Flask + Flask-Session (cachelib memory) + Flask-WTF + Flask-Login",
            "flask-session",
            "memory://",
        ),
        _flask(
            "flask-session-redis",
            "Flask + Flask-Session (Redis) + Flask-WTF + Flask-Login",
            "flask-session",
            REDIS_URL,
            redis="1",
        ),
        _flask("cookieguard-memory", "Flask + cookieguard (memory)", "cookieguard", "memory://"),
        _flask(
            "cookieguard-sqlite",
            "Flask + cookieguard (SQLite)",
            "cookieguard",
            "sqlite:///{dir}/sessions.sqlite3",
        ),
        _flask(
            "cookieguard-redis", "Flask + cookieguard (Redis)", "cookieguard", REDIS_URL, redis="1"
        ),
        _flask(
            "cookieguard-postgres",
            "Flask + cookieguard (PostgreSQL)",
            "cookieguard",
            POSTGRES_URL,
            pg="1",
        ),
    ]


def subjects_for(server: str) -> list[Subject]:
    """The subjects `run.py --server SERVER` can run."""
    return flask_subjects() if server == "gunicorn" else all_subjects()


def _app(name: str, label: str, security: str, store: str, **extra: str | None) -> Subject:
    env = {"BENCH_DB": "{db}", "BENCH_SECURITY": security, "BENCH_STORE": store}
    subject = Subject(name, label, [], _prepare_app, env=env, bare=security == "none")
    if extra.get("redis"):
        env["BENCH_REDIS_PREFIX"] = "{prefix}"
        subject.redis_prefix = "{prefix}"
    if extra.get("pg"):
        env["BENCH_PG_TABLE"] = "{table}"
        subject.pg_table = "{table}"
    return subject


def all_subjects() -> list[Subject]:
    """Every subject, the no-security ceiling first."""
    return [
        _app("bare", "same app, no security", "none", ""),
        _app(
            "starsessions-memory",
            "same app, starsessions (memory) + starlette-csrf",
            "starsessions",
            "memory://",
        ),
        _app(
            "starsessions-redis",
            "same app, starsessions (Redis) + starlette-csrf",
            "starsessions",
            REDIS_URL,
            redis="1",
        ),
        _app("cookieguard-memory", "same app, CookieGuard (memory)", "cookieguard", "memory://"),
        _app("floor", "same app, the least code the protection needs (a lower bound)", "floor", ""),
        _app(
            "cookieguard-sqlite",
            "same app, CookieGuard (SQLite)",
            "cookieguard",
            "sqlite:///{dir}/sessions.sqlite3",
        ),
        _app(
            "cookieguard-redis",
            "same app, CookieGuard (Redis)",
            "cookieguard",
            REDIS_URL,
            redis="1",
        ),
        _app(
            "cookieguard-postgres",
            "same app, CookieGuard (PostgreSQL)",
            "cookieguard",
            POSTGRES_URL,
            pg="1",
        ),
        Subject(
            "django-db",
            "Django (db sessions, SQLite), gunicorn sync",
            _gunicorn(),
            _prepare_django,
            env={"BENCH_DB": "{db}", "BENCH_SESSIONS": "db"},
            cwd=DJANGO_SITE,
        ),
        Subject(
            "django-redis",
            "Django (cache sessions, Redis), gunicorn sync",
            _gunicorn(),
            _prepare_django,
            env={
                "BENCH_DB": "{db}",
                "BENCH_SESSIONS": "redis",
                "BENCH_REDIS_URL": REDIS_URL,
                "BENCH_REDIS_PREFIX": "{prefix}",
            },
            cwd=DJANGO_SITE,
            redis_prefix="{prefix}",
        ),
    ]
