"""What the numbers were measured on: CPU, versions of every server stack and service."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

from subjects import ASGI_VENV, BENCH, DJANGO_VENV, FLASK_VENV, POSTGRES_URL

_VERSIONS = (
    "import importlib.metadata as m, platform, json, sys\n"
    "out = {'python': platform.python_version()}\n"
    "for name in sys.argv[1:]:\n"
    "    try: out[name] = m.version(name)\n"
    "    except m.PackageNotFoundError: pass\n"
    "print(json.dumps(out))\n"
)


def _output(cmd: list[str]) -> str:
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return (result.stdout or result.stderr).strip()


def _versions(venv: Path, packages: list[str]) -> dict[str, str]:
    import json

    text = _output([str(venv / "bin" / "python"), "-c", _VERSIONS, *packages])
    try:
        return dict(json.loads(text))
    except ValueError:
        return {}


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def _importable(module: str) -> bool:
    code = f"import importlib.util, sys; sys.exit(0 if importlib.util.find_spec('{module}') else 1)"
    return subprocess.run([str(ASGI_VENV / "bin" / "python"), "-c", code]).returncode == 0


def describe() -> dict[str, object]:
    asgi = _versions(
        ASGI_VENV,
        [
            "uvicorn",
            "uvloop",
            "httptools",
            "granian",
            "starlette",
            "starsessions",
            "starlette-csrf",
            "redis",
            "hiredis",
            "jinja2",
            "cookieguard",
            "psycopg",
        ],
    )
    django = _versions(DJANGO_VENV, ["django", "gunicorn", "redis", "hiredis"])
    flask = _versions(
        FLASK_VENV,
        ["flask", "werkzeug", "gunicorn", "flask-session", "cachelib", "flask-wtf", "flask-login"],
    )
    redis_info = _output(["redis-cli", "INFO", "server"])
    redis_version = next(
        (ln.split(":", 1)[1] for ln in redis_info.splitlines() if ln.startswith("redis_version")),
        "",
    )
    return {
        "nproc": os.cpu_count(),
        "cpu": _cpu_model(),
        "kernel": platform.release(),
        "wrk": _output(["wrk", "-v"]).split(" Copyright")[0],
        "asgi_env": asgi,
        "asgi_server": f"uvicorn {asgi.get('uvicorn')} (uvloop {asgi.get('uvloop')}, httptools "
        f"{asgi.get('httptools')}; h11 for uvicorn-h11), granian {asgi.get('granian')}",
        "django_env": django,
        "flask_env": flask,
        "django_server": "gunicorn, 1 sync worker (closes the connection after each response)",
        "redis_server": redis_version,
        "postgres_server": "PostgreSQL "
        + _output(["psql", POSTGRES_URL, "-Atc", "SHOW server_version"]).split(" ")[0],
        "cookieguard_commit": _output(
            ["git", "-C", str(BENCH.parent), "rev-parse", "--short", "HEAD"]
        ),
    }
