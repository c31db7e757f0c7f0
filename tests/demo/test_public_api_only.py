"""The demo is written as the README tells an application to be: public API only.

Every name a demo module imports from cookieguard comes from a public module (no ``_``
segment) and is one that module exports (in its ``__all__`` when it has one); from Starlette
it uses no private module or name either (no router of its own built on internals).
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import cookieguard.demo

DEMO = Path(cookieguard.demo.__file__).parent


def _imports() -> list[tuple[str, str, str]]:
    """(file, module, name) of every ``from module import name`` in the demo package."""
    found = []
    for path in sorted(DEMO.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found += [(path.name, node.module, alias.name) for alias in node.names]
            elif isinstance(node, ast.Import):
                found += [(path.name, alias.name, "") for alias in node.names]
    return found


def test_demo_imports_only_public_cookieguard_and_starlette_names() -> None:
    problems = []
    for file, module, name in _imports():
        root = module.split(".")[0]
        if root not in ("cookieguard", "starlette"):
            continue
        if module.startswith("cookieguard.demo"):
            continue  # its own modules
        if any(part.startswith("_") for part in module.split(".")) or name.startswith("_"):
            problems.append(f"{file}: {module}.{name} is private")
            continue
        exported = getattr(importlib.import_module(module), "__all__", None)
        if root == "cookieguard" and name and exported is not None and name not in exported:
            problems.append(f"{file}: {module}.{name} is not in {module}.__all__")
    assert problems == []


def test_the_demo_routes_with_starlettes_own_router() -> None:
    names = {name for _, _, name in _imports()}
    assert not names & {"Router", "BaseRoute", "Match"}, "the demo builds no router of its own"
    assert not (DEMO / "routing.py").exists()
