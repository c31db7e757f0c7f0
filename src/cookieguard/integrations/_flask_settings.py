"""The Flask extension's settings: read once from ``app.config``, under one prefix.

``SECRET_KEY`` (newest) and ``SECRET_KEY_FALLBACKS`` (older keys that still verify, Flask
3.1's setting) sign the session auth hash. Everything else is ``COOKIEGUARD_*``:

=============================  ==========================================================
``COOKIEGUARD_STORE``          required: an `open_sync_store` URL, a sync store, or a
                               `SignedCookieBackend`
``COOKIEGUARD_USERS``          a sync user store (`SyncSQLiteUserStore`, your own
                               `SyncUserStore`): `authenticate`, `get_user`, the re-check
``COOKIEGUARD_SESSION_CONFIG`` a `SessionConfig` (cookie, timeouts)
``COOKIEGUARD_CSRF_CONFIG``    a `CSRFConfig`
``COOKIEGUARD_TRUSTED_ORIGINS``, ``COOKIEGUARD_EXEMPT_PATHS``, ``COOKIEGUARD_MAX_BODY_SIZE``,
``COOKIEGUARD_CSRF_USE_SESSION``: the `CSRFConfig` fields of those names, when no
``COOKIEGUARD_CSRF_CONFIG`` is given
``COOKIEGUARD_API_PREFIXES``   refusals under these paths are JSON (both configs)
``COOKIEGUARD_DEBUG``          the precise CSRF reason in 403 pages (default: ``DEBUG``)
``COOKIEGUARD_LOGIN_URL``      where login-required views send browsers (``/login``)
``COOKIEGUARD_RECHECK_INTERVAL`` seconds between re-checks of a session against the users
``COOKIEGUARD_THROTTLE``       a `ThrottlePolicy`, or False for no login throttling
``COOKIEGUARD_REMEMBER``       remember-me: True keeps series in the session store, or a
                               `RememberConfig` over a sync store; False (default): off
``COOKIEGUARD_REMEMBER_MAX_AGE``, ``COOKIEGUARD_REMEMBER_GRACE``: the `RememberConfig`
fields of those names, with ``COOKIEGUARD_REMEMBER = True`` (30 days, 30 seconds)
``COOKIEGUARD_MAX_SESSIONS_PER_USER`` a cap on each user's concurrent sessions (oldest end)
``COOKIEGUARD_ON_SECURITY_EVENT`` a callable given this app's `SecurityEvent`s (a plain
                               function: there is no event loop in a Flask worker)
=============================  ==========================================================

An unknown ``COOKIEGUARD_*`` key raises `ConfigError`: a misspelt setting must not leave a
protection silently at its default.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cookieguard.auth._context import AuthConfig
from cookieguard.auth._remember import RememberConfig
from cookieguard.auth._users_sync import SyncUserStore
from cookieguard.config import CSRFConfig, SessionConfig
from cookieguard.core._throttle import ThrottlePolicy
from cookieguard.errors import ConfigError
from cookieguard.stores import open_sync_store
from cookieguard.stores.base import SyncCounterStore, SyncSessionStore
from cookieguard.wsgi._auth import sync_auth_config
from cookieguard.wsgi._guard import keyring_of

__all__ = ["SETTINGS", "Settings", "read_settings"]

PREFIX = "COOKIEGUARD_"
_CSRF_FIELDS = {
    "TRUSTED_ORIGINS": "trusted_origins",
    "EXEMPT_PATHS": "exempt_paths",
    "MAX_BODY_SIZE": "max_body_size",
    "CSRF_USE_SESSION": "use_session",
}
SETTINGS = frozenset(
    {
        "STORE",
        "USERS",
        "SESSION_CONFIG",
        "CSRF_CONFIG",
        "API_PREFIXES",
        "DEBUG",
        "LOGIN_URL",
        "RECHECK_INTERVAL",
        "THROTTLE",
        "REMEMBER",
        "REMEMBER_MAX_AGE",
        "REMEMBER_GRACE",
        "MAX_SESSIONS_PER_USER",
        "ON_SECURITY_EVENT",
        *_CSRF_FIELDS,
    }
)
"""Every ``COOKIEGUARD_*`` setting (without the prefix)."""


@dataclass(frozen=True)
class Settings:
    """The extension's settings, digested."""

    store: Any
    users: SyncUserStore | None
    session: SessionConfig
    csrf: CSRFConfig
    auth: AuthConfig
    counters: SyncCounterStore | None
    throttle: ThrottlePolicy | None
    remember: RememberConfig | None = None


def read_settings(config: Mapping[str, Any]) -> Settings:
    """`Settings` from a Flask ``app.config``.

    Raises:
        ConfigError: a missing ``SECRET_KEY`` or ``COOKIEGUARD_STORE``, an unknown
            ``COOKIEGUARD_*`` key, or a setting given twice.
    """
    ours = {key[len(PREFIX) :]: value for key, value in config.items() if key.startswith(PREFIX)}
    unknown = sorted(set(ours) - SETTINGS)
    if unknown:
        raise ConfigError(
            f"unknown setting(s) {', '.join(PREFIX + k for k in unknown)}; cookieguard knows "
            f"{', '.join(sorted(PREFIX + k for k in SETTINGS))}"
        )
    keyring = keyring_of(config.get("SECRET_KEY"), config.get("SECRET_KEY_FALLBACKS") or ())
    if ours.get("STORE") is None:
        raise ConfigError("set COOKIEGUARD_STORE: a store URL such as 'sqlite:///sessions.db'")
    store = ours["STORE"]
    if isinstance(store, str):
        store = open_sync_store(store)
    api = ours.get("API_PREFIXES")
    session = ours.get("SESSION_CONFIG") or SessionConfig()
    if api is not None:
        session = dataclasses.replace(session, api_prefixes=api)
    csrf = _csrf_config(ours, debug=bool(ours.get("DEBUG", config.get("DEBUG", False))))
    users = ours.get("USERS")
    options: dict[str, Any] = {}
    if "LOGIN_URL" in ours:
        options["login_url"] = ours["LOGIN_URL"]
    for key in ("MAX_SESSIONS_PER_USER", "ON_SECURITY_EVENT"):
        if key in ours:
            options[key.lower()] = ours[key]
    auth = sync_auth_config(
        keyring, users, recheck_interval=ours.get("RECHECK_INTERVAL", 300), **options
    )
    throttle = ours.get("THROTTLE")
    counters = store if isinstance(store, SyncCounterStore) and throttle is not False else None
    return Settings(
        store=store,
        users=users,
        session=session,
        csrf=csrf,
        auth=auth,
        counters=counters,
        throttle=throttle if isinstance(throttle, ThrottlePolicy) else None,
        remember=_remember_config(ours, store),
    )


def _remember_config(ours: dict[str, Any], store: Any) -> RememberConfig | None:
    chosen = ours.get("REMEMBER", False)
    tuned = {key: ours[key] for key in ("REMEMBER_MAX_AGE", "REMEMBER_GRACE") if key in ours}
    if isinstance(chosen, RememberConfig):
        if tuned:
            raise ConfigError(
                "COOKIEGUARD_REMEMBER is a RememberConfig: set max_age and grace there, "
                "not in COOKIEGUARD_REMEMBER_MAX_AGE / _GRACE"
            )
        config = chosen
    elif chosen is True:
        if not isinstance(store, SyncSessionStore):
            raise ConfigError("COOKIEGUARD_REMEMBER needs a server-side COOKIEGUARD_STORE")
        options = {key[len("REMEMBER_") :].lower(): value for key, value in tuned.items()}
        config = RememberConfig(store, **options)
    elif chosen is False or chosen is None:
        if tuned:
            raise ConfigError("COOKIEGUARD_REMEMBER_* given without COOKIEGUARD_REMEMBER = True")
        return None
    else:
        raise ConfigError("COOKIEGUARD_REMEMBER must be True, False or a RememberConfig")
    if not config.sync:
        raise ConfigError("COOKIEGUARD_REMEMBER's RememberConfig needs a sync store")
    return config


def _csrf_config(ours: dict[str, Any], *, debug: bool) -> CSRFConfig:
    given = {_CSRF_FIELDS[key]: ours[key] for key in _CSRF_FIELDS if key in ours}
    base: CSRFConfig | None = ours.get("CSRF_CONFIG")
    if base is not None and given:
        raise ConfigError(
            "COOKIEGUARD_CSRF_CONFIG and the single CSRF settings both given: use one of them"
        )
    if "API_PREFIXES" in ours:
        given["api_prefixes"] = ours["API_PREFIXES"]
    if base is None:
        return CSRFConfig(debug=debug, **given)
    return dataclasses.replace(base, **given)
