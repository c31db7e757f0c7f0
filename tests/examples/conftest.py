"""Load the files in examples/ as their users would run them, in a temporary directory.

Every example keeps its data in relative paths (``example.db``, ``site.db``...), so each test
runs with a fresh temporary directory as its working directory: nothing lands in the
repository, and no test sees another's data.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from flask import Flask

from cookieguard.integrations.flask import CookieGuard

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
README = ROOT / "README.md"
BASE_URL = "http://testserver"
TOKEN_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([A-Za-z0-9]{64})"')

Loader = Callable[..., ModuleType]


def token_in(html: str) -> str:
    """The masked CSRF token of the page's hidden form field."""
    match = TOKEN_INPUT.search(html)
    assert match is not None, "page has no csrfmiddlewaretoken input"
    return match[1]


def browser(app: Any, address: str = "203.0.113.7") -> httpx.AsyncClient:
    """An in-process HTTP client for an ASGI app (cookies kept, redirects not followed)."""
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url=BASE_URL)


def set_cookie(response: httpx.Response, name: str) -> str | None:
    """The response's Set-Cookie line for `name`, if any."""
    for line in response.headers.get_list("set-cookie"):
        if line.startswith(f"{name}="):
            return line
    return None


async def _close(obj: object) -> None:
    close: Callable[[], Awaitable[None] | None] | None = getattr(obj, "close", None)
    if close is not None:
        result = close()  # the sync stores of the WSGI examples close at once
        if result is not None:
            await result


@pytest.fixture
async def load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Callable[..., ModuleType]]:
    """``load("name")`` imports examples/name.py with `tmp_path` as working directory.

    ``load("name", source=...)`` runs a variant of the file's text instead (for examples
    that name a host the tests cannot reach). Every store the module holds (`store`,
    `users`, or the one inside its `app`; a Flask app's ``COOKIEGUARD_USERS`` and the store
    it opened from ``COOKIEGUARD_STORE``) is closed afterwards.
    """
    monkeypatch.chdir(tmp_path)
    loaded: list[ModuleType] = []

    def loader(name: str, source: str | None = None) -> ModuleType:
        path = EXAMPLES / f"{name}.py"
        module_name = f"examples_under_test.{name}_{len(loaded)}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        loaded.append(module)
        if source is None:
            spec.loader.exec_module(module)
        else:
            exec(compile(source, str(path), "exec"), module.__dict__)
        return module

    yield loader
    for module in loaded:
        seen: set[int] = set()
        app = getattr(module, "app", None)
        flask_users = None
        if isinstance(app, Flask):
            CookieGuard.close(app)
            flask_users = app.config.get("COOKIEGUARD_USERS")
        for obj in (
            getattr(module, "store", None),
            getattr(module, "users", None),
            getattr(app, "store", None),
            flask_users,
        ):
            if obj is not None and id(obj) not in seen:
                seen.add(id(obj))
                await _close(obj)
        sys.modules.pop(module.__name__, None)
