"""The one order cookieguard's middlewares work in, checked when each one is constructed.

Sessions go outside CSRF, CSRF outside auth: ``SessionMiddleware(CSRFMiddleware(
AuthMiddleware(app, auth)), store)`` (`cookieguard.CookieGuard` builds exactly this). Some
wrong orders run without any error and quietly lose a protection: `AuthMiddleware` outside
the sessions never sees a session, so it never re-checks one; a layer twice keeps two
sessions or two CSRF secrets per request. So each middleware, when constructed, looks at
what it wraps and raises `ConfigError` for:

* a layer wrapping its own kind (any layer twice);
* `AuthMiddleware` wrapping a `SessionMiddleware`;
* `CSRFMiddleware` with ``use_session=True`` wrapping a `SessionMiddleware` (the secret
  lives in the session, which is not loaded yet when the check runs).

(`CSRFMiddleware` in the default cookie mode outside the sessions works, and is allowed.)

What a middleware wraps is found by walking the ``.app`` chain, the attribute every ASGI
middleware in Starlette's style keeps, and the middleware a Starlette or FastAPI app has
registered with ``add_middleware`` (its ``user_middleware``; those are built later, at the
app's first call, and so are checked again then). A wrapper that hides its inner app under
another name ends the walk: what is below it is not checked. The check runs at construction,
not per request, so it costs requests nothing and a misconfigured app never starts serving.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from cookieguard.errors import ConfigError

__all__ = ["Layer", "check_layering", "layers_below"]

Layer = Literal["session", "csrf", "auth"]

_MAX_DEPTH = 64
_ORDER = (
    "the order is SessionMiddleware(CSRFMiddleware(AuthMiddleware(app, auth)), store), "
    "sessions outermost; cookieguard.CookieGuard(app, ...) builds it for you"
)
_NAMES: dict[Layer, str] = {
    "session": "SessionMiddleware",
    "csrf": "CSRFMiddleware",
    "auth": "AuthMiddleware",
}


def layers_below(app: object) -> Iterator[tuple[Layer, bool]]:
    """The cookieguard layers inside `app`, outermost first: ``(layer, uses_session)``.

    ``uses_session`` is True for a `CSRFMiddleware` with ``use_session=True``.
    """
    seen: set[int] = set()
    current: object = app
    for _ in range(_MAX_DEPTH):
        if current is None or id(current) in seen:
            return
        seen.add(id(current))
        found = _layer_of(current, current)
        if found is not None:
            yield found
        # A Starlette/FastAPI app: the middleware it will build around its router.
        for entry in _user_middleware(current):
            found = _layer_of(getattr(entry, "cls", None), _config_of(entry))
            if found is not None:
                yield found
        current = getattr(current, "app", None)


def _user_middleware(app: object) -> list[object]:
    entries = getattr(app, "user_middleware", None)
    return list(entries) if isinstance(entries, list) else []


def _config_of(entry: object) -> object:
    """The ``config`` a Starlette ``Middleware(cls, *args, **kwargs)`` entry passes, if any."""
    kwargs = getattr(entry, "kwargs", None)
    if isinstance(kwargs, dict) and "config" in kwargs:
        return kwargs["config"]
    args = getattr(entry, "args", None)
    return args[0] if isinstance(args, tuple) and args else None


def _layer_of(obj: object, config_holder: object) -> tuple[Layer, bool] | None:
    """Which layer `obj` (an instance or a middleware class) is, if any."""
    # Imported here: the middleware modules import this one.
    from cookieguard.asgi.csrf import CSRFMiddleware
    from cookieguard.asgi.session import SessionMiddleware
    from cookieguard.auth._context import AuthMiddleware

    if obj is None:
        return None
    cls = obj if isinstance(obj, type) else type(obj)
    if issubclass(cls, SessionMiddleware):
        return ("session", False)
    if issubclass(cls, CSRFMiddleware):
        config = getattr(config_holder, "config", config_holder)
        return ("csrf", getattr(config, "use_session", False) is True)
    if issubclass(cls, AuthMiddleware):
        return ("auth", False)
    return None


def check_layering(layer: Layer, app: object, *, uses_session: bool = False) -> None:
    """Raise `ConfigError` if a `layer` middleware around `app` is in a wrong order.

    Args:
        layer: the kind of middleware being constructed.
        app: the app it is about to wrap.
        uses_session: a `CSRFMiddleware` with ``use_session=True``.
    """
    name = _NAMES[layer]
    for inner, _ in layers_below(app):
        if inner == layer:
            raise ConfigError(f"{name} wraps another {name}: use each layer once; {_ORDER}")
        if inner == "session" and layer == "auth":
            raise ConfigError(
                f"AuthMiddleware must be inside SessionMiddleware, not around it; {_ORDER}"
            )
        if inner == "session" and uses_session:
            raise ConfigError(
                "CSRFConfig(use_session=True) keeps the secret in the session, so "
                f"CSRFMiddleware must be inside SessionMiddleware, not around it; {_ORDER}"
            )
