"""The servers under test: how to prepare, start and log in to each one.

Every subject serves the demo contract's routes on 127.0.0.1, pinned to CPU 0. The ASGI
subjects share one environment (bench/.venvs/asgi) and one server stack: uvicorn, one worker,
`--loop asyncio --http h11`. Django runs under gunicorn's sync worker from bench/.venvs/django.
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
PEERS = BENCH / "sites"
DJANGO_SITE = PEERS / "django_site"
SERVER_CPU = "0"
UVICORN_FLAGS = ["--loop", "asyncio", "--http", "h11", "--workers", "1", "--no-access-log"]
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
    command: list[str]
    prepare: Callable[[Subject, Path, dict[str, str]], None]
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path = BENCH
    bare: bool = False
    redis_prefix: str | None = None

    def fill(self, text: str, values: dict[str, str]) -> str:
        return text.format(**values)


def _run(cmd: list[str], env: dict[str, str], cwd: Path, stdin: str | None = None) -> None:
    result = subprocess.run(
        cmd, input=stdin, env={**os.environ, **env}, cwd=cwd, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {result.stderr.strip()[-500:]}")


def _prepare_peer(subject: Subject, workdir: Path, values: dict[str, str]) -> None:
    if subject.bare:
        return
    for name, password in USERS.items():
        cmd = [
            str(ASGI_VENV / "bin" / "python"),
            "peerdb.py",
            "adduser",
            name,
            "--db",
            values["db"],
        ]
        _run(cmd, {}, PEERS, password + "\n")


def _prepare_django(subject: Subject, workdir: Path, values: dict[str, str]) -> None:
    env = {k: subject.fill(v, values) for k, v in subject.env.items()}
    python = str(DJANGO_VENV / "bin" / "python")
    _run([python, "manage.py", "migrate", "--noinput", "-v0"], env, DJANGO_SITE)
    for name, password in USERS.items():
        _run([python, "manage.py", "adduser", name], env, DJANGO_SITE, password + "\n")


def _prepare_cookieguard(subject: Subject, workdir: Path, values: dict[str, str]) -> None:
    exe = cookieguard_executable()
    for name, password in USERS.items():
        _run([exe, "adduser", name, "--db", values["db"]], {}, BENCH, password + "\n")


def cookieguard_executable() -> str:
    """The `cookieguard` command of the bench environment (override: BENCH_COOKIEGUARD)."""
    override = os.environ.get("BENCH_COOKIEGUARD")
    return os.path.abspath(override) if override else str(ASGI_VENV / "bin" / "cookieguard")


def cookieguard_available() -> str | None:
    """None when `cookieguard demo` exists here, else why not."""
    try:
        result = subprocess.run(
            [cookieguard_executable(), "demo", "--help"], capture_output=True, text=True, timeout=60
        )
    except OSError as exc:
        return str(exc)
    if result.returncode != 0 or "--store" not in result.stdout:
        return "`cookieguard demo --help` does not offer --store yet"
    return None


def _uvicorn(factory: str) -> list[str]:
    return [
        str(ASGI_VENV / "bin" / "python"),
        "-m",
        "uvicorn",
        "--app-dir",
        str(PEERS),
        "--factory",
        factory,
        "--host",
        "127.0.0.1",
        "--port",
        "{port}",
        "--log-level",
        "warning",
        *UVICORN_FLAGS,
    ]


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


def _cookieguard(store: str | None) -> list[str]:
    cmd = [cookieguard_executable(), "demo", "--host", "127.0.0.1", "--port", "{port}"]
    cmd += ["--db", "{db}"]
    if store:
        cmd += ["--store", store]
    return cmd


def all_subjects() -> list[Subject]:
    """Every subject, the bare ceiling first."""
    return [
        Subject(
            "bare",
            "bare Starlette (no security)",
            _uvicorn("bare:create_app"),
            _prepare_peer,
            env={"BENCH_DB": "{db}"},
            bare=True,
        ),
        Subject(
            "starsessions-memory",
            "Starlette + starsessions (memory) + starlette-csrf",
            _uvicorn("starsessions_site:create_app"),
            _prepare_peer,
            env={"BENCH_DB": "{db}", "BENCH_STORE": "memory://"},
        ),
        Subject(
            "starsessions-redis",
            "Starlette + starsessions (Redis) + starlette-csrf",
            _uvicorn("starsessions_site:create_app"),
            _prepare_peer,
            env={"BENCH_DB": "{db}", "BENCH_STORE": REDIS_URL, "BENCH_REDIS_PREFIX": "{prefix}"},
            redis_prefix="{prefix}",
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
        Subject(
            "cookieguard-memory",
            "cookieguard demo (memory store)",
            _cookieguard("memory://"),
            _prepare_cookieguard,
        ),
        Subject(
            "cookieguard-sqlite",
            "cookieguard demo (SQLite store)",
            _cookieguard(None),
            _prepare_cookieguard,
        ),
        Subject(
            "cookieguard-redis",
            "cookieguard demo (Redis store)",
            _cookieguard(REDIS_URL),
            _prepare_cookieguard,
        ),
        Subject(
            "cookieguard-postgres",
            "cookieguard demo (PostgreSQL store)",
            _cookieguard(POSTGRES_URL),
            _prepare_cookieguard,
        ),
    ]
