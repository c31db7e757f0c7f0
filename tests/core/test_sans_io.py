"""core/ must stay sans-IO: walk its imports and refuse I/O and clock modules."""

from __future__ import annotations

import ast
import pathlib

import cookieguard.core

FORBIDDEN = {
    "asyncio",
    "socket",
    "ssl",
    "select",
    "selectors",
    "io",
    "os",
    "pathlib",
    "shutil",
    "tempfile",
    "sqlite3",
    "redis",
    "psycopg",
    "psycopg_pool",
    "asyncpg",
    "time",
    "datetime",
    "threading",
    "subprocess",
    "http",
    "urllib.request",
    "anyio",
    "starlette",
}

CORE_DIR = pathlib.Path(cookieguard.core.__file__).parent


def _imports(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _is_forbidden(module: str) -> bool:
    return any(module == f or module.startswith(f + ".") for f in FORBIDDEN)


def test_core_modules_import_no_io_or_clock() -> None:
    offenders = {}
    for path in sorted(CORE_DIR.rglob("*.py")):
        bad = sorted(m for m in _imports(path) if _is_forbidden(m))
        # A core module may import other cookieguard modules only if they are sans-IO too.
        bad += sorted(
            m
            for m in _imports(path)
            if m.startswith("cookieguard.")
            and not m.startswith(("cookieguard.core", "cookieguard.errors"))
        )
        if bad:
            offenders[path.name] = bad
    assert offenders == {}


def test_the_walker_sees_a_forbidden_import(tmp_path: pathlib.Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import time\nfrom asyncio import sleep\nfrom cookieguard.core import x\n")
    assert {m for m in _imports(sample) if _is_forbidden(m)} == {"time", "asyncio"}
