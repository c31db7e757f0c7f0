"""The public modules are a pinned set; every other module's name starts with ``_``.

A module a user may import is a promise: adding one to this list is a decision, not an
accident of a new file. Every public module says what it offers in ``__all__`` (a package
that only holds public modules may go without), and every name listed there exists.
"""

from __future__ import annotations

import importlib
import pkgutil

import cookieguard

PUBLIC_MODULES = {
    "cookieguard",
    "cookieguard.asgi",
    "cookieguard.asgi.csrf",
    "cookieguard.asgi.session",
    "cookieguard.auth",
    "cookieguard.auth.devices",
    "cookieguard.auth.legacy",
    "cookieguard.auth.postgres_users",
    "cookieguard.backends",
    "cookieguard.cli",
    "cookieguard.config",
    "cookieguard.core",
    "cookieguard.core.cookies",
    "cookieguard.core.csrf",
    "cookieguard.core.redirects",
    "cookieguard.core.session",
    "cookieguard.core.session_plan",
    "cookieguard.core.signing",
    "cookieguard.core.tokens",
    "cookieguard.csrf_rotation",
    "cookieguard.demo",
    "cookieguard.demo.app",
    "cookieguard.demo.serve",
    "cookieguard.django",
    "cookieguard.errors",
    "cookieguard.events",
    "cookieguard.guard",
    "cookieguard.integrations",
    "cookieguard.integrations.fastapi",
    "cookieguard.integrations.flask",
    "cookieguard.integrations.jinja2",
    "cookieguard.integrations.litestar",
    "cookieguard.integrations.quart",
    "cookieguard.integrations.starlette",
    "cookieguard.integrations.starlette_recent",
    "cookieguard.stores",
    "cookieguard.stores.base",
    "cookieguard.stores.memory",
    "cookieguard.stores.postgres",
    "cookieguard.stores.postgres_sync",
    "cookieguard.stores.purge",
    "cookieguard.stores.redis",
    "cookieguard.stores.redis_sync",
    "cookieguard.stores.sqlite",
    "cookieguard.stores.sqlite_db",
    "cookieguard.stores.sqlite_sync",
    "cookieguard.wsgi",
}

# Packages that only group public modules: nothing of their own to list.
NAMESPACES = {
    "cookieguard.asgi",
    "cookieguard.core",
    "cookieguard.demo",
    "cookieguard.integrations",
}


def _is_public(name: str) -> bool:
    return not any(part.startswith("_") for part in name.split("."))


def _all_modules() -> list[str]:
    found = ["cookieguard"]
    for info in pkgutil.walk_packages(cookieguard.__path__, "cookieguard."):
        found.append(info.name)
    return found


def test_every_module_outside_the_pinned_set_is_private() -> None:
    public = {name for name in _all_modules() if _is_public(name)}
    assert public == PUBLIC_MODULES


def test_the_walk_sees_private_modules_too() -> None:
    # Guards the test above against a walk that silently stops at the first level.
    assert "cookieguard.asgi._body" in _all_modules()
    assert "cookieguard.django._sessions" in _all_modules()


def test_every_public_module_lists_its_names_and_each_resolves() -> None:
    missing_all = []
    for name in sorted(PUBLIC_MODULES - NAMESPACES):
        module = importlib.import_module(name)
        exported = getattr(module, "__all__", None)
        if exported is None:
            missing_all.append(name)
            continue
        for attribute in exported:
            assert getattr(module, attribute, None) is not None, f"{name}.{attribute}"
        assert len(set(exported)) == len(exported), f"{name}.__all__ repeats a name"
    assert missing_all == []


def test_namespace_packages_export_nothing_of_their_own() -> None:
    for name in NAMESPACES:
        assert not hasattr(importlib.import_module(name), "__all__"), name
