"""cookieguard's configuration from a Django site's settings, so both sides agree on every name.

``from_django_settings({...})`` takes the Django settings in use (a plain dict: copy the
values, or pass ``{name: getattr(settings, name) for name in dir(settings)}``) and answers
with a `DjangoSite`: the same cookie names, domains, paths and lifetimes, the same keys, the
same password format, ready to build the session backend, the user store and `AuthConfig`.
Unset names take Django 6.1's defaults. Settings that cannot be shared are refused with a
`ConfigError` saying why, rather than silently logging people out:

* ``SESSION_ENGINE`` must be ``django.contrib.sessions.backends.db``: ``cached_db`` and
  ``cache`` keep a copy in Django's cache that a logout here could not end, ``file`` and
  ``signed_cookies`` keep nothing in the table. A custom store class on ``django_session``
  works with ``session_salt=`` (its ``"django.contrib.sessions." + __qualname__``).
* ``SESSION_SERIALIZER`` must be Django's JSON serializer.

``SESSION_COOKIE_SECURE = False`` (Django's default) becomes cookieguard's "Secure when the
request came over https" (the same cookie, a safer flag); True stays True.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any, Final
from urllib.parse import quote

from cookieguard.auth._context import AuthConfig
from cookieguard.auth._users import UserStore
from cookieguard.config import ONE_YEAR, TWO_WEEKS, CookieConfig, CSRFConfig, SessionConfig
from cookieguard.core._django_signing import DJANGO_SESSION_SALT
from cookieguard.core.cookies import SameSite
from cookieguard.core.signing import KeyRing
from cookieguard.django._hashers import DJANGO_PBKDF2_ITERATIONS, DjangoPasswordHasher
from cookieguard.django._sessions import DjangoSessionBackend
from cookieguard.django._tables import Database
from cookieguard.django._users import DjangoUserStore
from cookieguard.errors import ConfigError

__all__ = ["DjangoSite", "from_django_settings"]

MODEL_BACKEND: Final = "django.contrib.auth.backends.ModelBackend"
_DB_ENGINE: Final = "django.contrib.sessions.backends.db"
_JSON: Final = "django.contrib.sessions.serializers.JSONSerializer"
_HASHERS: Final = {
    "django.contrib.auth.hashers.PBKDF2PasswordHasher": "pbkdf2_sha256",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher": "pbkdf2_sha1",
    "django.contrib.auth.hashers.Argon2PasswordHasher": "argon2",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher": "bcrypt_sha256",
    "django.contrib.auth.hashers.ScryptPasswordHasher": "scrypt",
}
_DEFAULT_HASHERS: Final = (
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
)


@dataclass(frozen=True)
class DjangoSite:
    """What a cookieguard service needs to share sessions, users and CSRF with a Django site."""

    keyring: KeyRing
    """``SECRET_KEY`` first, then ``SECRET_KEY_FALLBACKS`` (the auth hash and session rows)."""
    session: SessionConfig
    """The ``SESSION_COOKIE_*`` settings (no absolute timeout: Django has none)."""
    csrf: CSRFConfig
    """The ``CSRF_*`` settings."""
    passwords: DjangoPasswordHasher = field(repr=False)
    """Writes ``PASSWORD_HASHERS[0]``'s format (never upgrades if that is a custom class)."""
    auth_backend: str = MODEL_BACKEND
    """``AUTHENTICATION_BACKENDS[0]``: the ``_auth_user_backend`` logins here write."""
    session_salt: str = DJANGO_SESSION_SALT
    cookie_age: int = TWO_WEEKS
    """``SESSION_COOKIE_AGE``."""
    user_table: str = "auth_user"
    """The table of ``AUTH_USER_MODEL`` under Django's default naming."""
    database: str | None = field(default=None, repr=False)  # a DSN may hold a password
    """``DATABASES["default"]`` as a location (SQLite path or PostgreSQL DSN), if it is one."""
    time_zone: str | None = None
    """``TIME_ZONE`` when ``USE_TZ = False``, else None."""

    def session_backend(self, database: Database | str | None = None) -> DjangoSessionBackend:
        """The `DjangoSessionBackend` on `database` (default: Django's default database)."""
        return DjangoSessionBackend(
            self._where(database),
            keys=self.keyring,
            salt=self.session_salt,
            cookie_age=self.cookie_age,
            time_zone=self.time_zone,
        )

    def user_store(self, database: Database | str | None = None, **columns: Any) -> DjangoUserStore:
        """The `DjangoUserStore` on `database`; `columns` as `DjangoUserStore` takes them."""
        columns.setdefault("table", self.user_table)
        return DjangoUserStore(self._where(database), **columns)

    def auth_config(self, user_store: UserStore, **options: Any) -> AuthConfig:
        """`AuthConfig` with Django's auth hash, backend name and password format.

        `options` go to `AuthConfig` (e.g. ``recheck_interval``, ``login_url``).
        """
        options.setdefault("passwords", self.passwords)
        return AuthConfig(
            keyring=self.keyring,
            user_store=user_store,
            django_auth_backend=self.auth_backend,
            **options,
        )

    def _where(self, database: Database | str | None) -> Database | str:
        if database is not None:
            return database
        if self.database is None:
            raise ConfigError(
                "DATABASES['default'] is neither SQLite nor PostgreSQL: pass the database"
            )
        return self.database


def _get(settings: Mapping[str, Any], name: str, default: Any) -> Any:
    return settings.get(name, default)


def _samesite(value: Any, name: str) -> SameSite | None:
    if value is False or value is None:
        return None
    if value in ("Lax", "Strict", "None"):
        return value  # type: ignore[no-any-return]
    raise ConfigError(f"{name} must be 'Lax', 'Strict', 'None' or False, not {value!r}")


def _cookie(settings: Mapping[str, Any], prefix: str, name: str, httponly: bool) -> CookieConfig:
    samesite = _samesite(_get(settings, f"{prefix}_SAMESITE", "Lax"), f"{prefix}_SAMESITE")
    secure = bool(_get(settings, f"{prefix}_SECURE", False))
    return CookieConfig(
        name=_get(settings, f"{prefix}_NAME", name),
        path=_get(settings, f"{prefix}_PATH", "/"),
        domain=_get(settings, f"{prefix}_DOMAIN", None),
        # Browsers refuse SameSite=None without Secure, so Django's pairing must be Secure.
        secure=True if secure or samesite == "None" else None,
        httponly=bool(_get(settings, f"{prefix}_HTTPONLY", httponly)),
        samesite=samesite,
    )


def _header(meta_name: str) -> str:
    """``HTTP_X_CSRFTOKEN`` (Django's META spelling) as the header ``X-CSRFTOKEN``."""
    if not isinstance(meta_name, str) or not meta_name.startswith("HTTP_"):
        raise ConfigError("CSRF_HEADER_NAME must be a META name such as 'HTTP_X_CSRFTOKEN'")
    return meta_name[len("HTTP_") :].replace("_", "-")


def _passwords(settings: Mapping[str, Any]) -> DjangoPasswordHasher:
    hashers: Sequence[str] = _get(settings, "PASSWORD_HASHERS", _DEFAULT_HASHERS)
    if not hashers:
        raise ConfigError("PASSWORD_HASHERS is empty")
    preferred = _HASHERS.get(hashers[0])
    if preferred is not None:
        return DjangoPasswordHasher(algorithm=preferred, iterations=DJANGO_PBKDF2_ITERATIONS)
    if "django.contrib.auth.hashers.PBKDF2PasswordHasher" not in hashers:
        raise ConfigError(
            f"PASSWORD_HASHERS[0] is {hashers[0]!r}: pass a DjangoPasswordHasher that writes "
            "a format the site reads (e.g. algorithm='pbkdf2_sha256')"
        )
    # A custom preferred hasher: Django upgrades rows itself; new hashes here stay readable.
    return DjangoPasswordHasher(algorithm="pbkdf2_sha256", upgrade=False)


def _user_table(model: str) -> str:
    app, sep, name = model.partition(".")
    if not sep or not app or not name:
        raise ConfigError(f"AUTH_USER_MODEL must look like 'app_label.ModelName', not {model!r}")
    return f"{app}_{name}".lower()


def _database(settings: Mapping[str, Any]) -> str | None:
    default = (_get(settings, "DATABASES", {}) or {}).get("default") or {}
    engine = default.get("ENGINE", "")
    if engine == "django.db.backends.sqlite3":
        name = default.get("NAME")
        return str(name) if isinstance(name, (str, PurePath)) else None
    if engine == "django.db.backends.postgresql":
        user = quote(str(default.get("USER") or ""), safe="")
        password = quote(str(default.get("PASSWORD") or ""), safe="")
        auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
        host = default.get("HOST") or "localhost"
        port = f":{default['PORT']}" if default.get("PORT") else ""
        return f"postgresql://{auth}{host}{port}/{quote(str(default.get('NAME') or ''))}"
    return None


def from_django_settings(
    settings: Mapping[str, Any], *, session_salt: str | None = None
) -> DjangoSite:
    """The cookieguard side of a Django site whose settings are `settings` (see module docs).

    Args:
        settings: Django setting names to values; unset names take Django's defaults.
        session_salt: the signing salt, for a custom ``SESSION_ENGINE`` on ``django_session``.

    Raises:
        ConfigError: a setting that cannot be shared (the message says which and why).
    """
    secret = _get(settings, "SECRET_KEY", "")
    if not secret:
        raise ConfigError("SECRET_KEY is required")
    keyring = KeyRing(secret, tuple(_get(settings, "SECRET_KEY_FALLBACKS", ())))
    engine = _get(settings, "SESSION_ENGINE", _DB_ENGINE)
    if session_salt is None:
        if engine != _DB_ENGINE:
            raise ConfigError(
                f"SESSION_ENGINE {engine!r} cannot be shared: use {_DB_ENGINE!r} (a cached or "
                "cookie copy would outlive a logout here), or pass session_salt= for a custom "
                "store class on django_session"
            )
        session_salt = DJANGO_SESSION_SALT
    if _get(settings, "SESSION_SERIALIZER", _JSON) != _JSON:
        raise ConfigError("SESSION_SERIALIZER must be Django's JSONSerializer")
    age = int(_get(settings, "SESSION_COOKIE_AGE", TWO_WEEKS))
    session = SessionConfig(
        cookie=_cookie(settings, "SESSION_COOKIE", "sessionid", httponly=True),
        idle_timeout=age,
        absolute_timeout=None,
        browser_session=bool(_get(settings, "SESSION_EXPIRE_AT_BROWSER_CLOSE", False)),
    )
    csrf_age = _get(settings, "CSRF_COOKIE_AGE", ONE_YEAR)
    csrf = CSRFConfig(
        cookie=_cookie(settings, "CSRF_COOKIE", "csrftoken", httponly=False),
        cookie_max_age=None if csrf_age is None else int(csrf_age),
        header_name=_header(_get(settings, "CSRF_HEADER_NAME", "HTTP_X_CSRFTOKEN")),
        trusted_origins=tuple(_get(settings, "CSRF_TRUSTED_ORIGINS", ())),
        use_session=bool(_get(settings, "CSRF_USE_SESSIONS", False)),
    )
    backends = _get(settings, "AUTHENTICATION_BACKENDS", (MODEL_BACKEND,))
    if not backends:
        raise ConfigError("AUTHENTICATION_BACKENDS is empty")
    use_tz = bool(_get(settings, "USE_TZ", True))
    return DjangoSite(
        keyring=keyring,
        session=session,
        csrf=csrf,
        passwords=_passwords(settings),
        auth_backend=str(backends[0]),
        session_salt=session_salt,
        cookie_age=age,
        user_table=_user_table(str(_get(settings, "AUTH_USER_MODEL", "auth.User"))),
        database=_database(settings),
        time_zone=None if use_tz else str(_get(settings, "TIME_ZONE", "America/Chicago")),
    )
