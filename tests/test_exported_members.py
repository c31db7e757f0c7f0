"""The public API is exactly what `cookieguard.__all__` lists, and all of it resolves."""

from __future__ import annotations

import subprocess
import sys

import cookieguard

EXPECTED = {
    "AuthConfig", "AuthError", "AuthMiddleware", "BodyLimitMiddleware", "CSRFConfig",
    "CSRFMiddleware",
    "ConfigError", "CookieConfig", "CookieGuard", "CookieguardError",
    "CounterStore", "InactiveUser", "InvalidPassword", "InvalidSessionChange", "InvalidUsername",
    "KeyCollision", "KeyRing",
    "LoginThrottle", "LoginThrottled", "ManagedUserStore", "MemoryStore", "MiddlewareMissing",
    "PasswordHasher",
    "PostgresStore", "RedisStore", "Refusal", "RequestRejected", "SQLiteStore", "SQLiteUserStore",
    "SecurityHeadersMiddleware", "Session", "SessionConfig", "SessionEntry", "SessionError",
    "SessionInfo", "SessionMiddleware", "SessionRecord", "SessionStore", "SessionTooLarge",
    "SessionBackend", "SignedCookieBackend", "StoreBackend", "StoreUnavailable",
    "SyncCounterStore", "SyncMemoryStore", "SyncPostgresStore", "SyncRedisStore",
    "SyncSQLiteStore", "SyncSQLiteUserStore", "SyncSessionStore", "SyncUserStore",
    "ThrottlePolicy", "User", "UserExists", "UserNotFound", "UserStore", "__version__",
    "authenticate",
    "change_password", "client_address", "csrf_exempt", "csrf_input", "csrf_meta", "get_csrf_token",
    "get_session", "get_session_store", "get_user", "get_user_id", "is_safe_redirect",
    "list_sessions", "login", "logout", "open_store", "open_sync_store", "revoke_other_sessions",
    "revoke_session", "rotate_csrf_token", "safe_next", "stored_session",
}  # fmt: skip


def test_public_names_are_pinned_and_sorted() -> None:
    assert set(cookieguard.__all__) == EXPECTED
    assert cookieguard.__all__ == sorted(cookieguard.__all__)


def test_every_public_name_resolves() -> None:
    for name in cookieguard.__all__:
        assert getattr(cookieguard, name) is not None, name


def test_importing_cookieguard_does_not_load_drivers_or_frameworks() -> None:
    code = (
        "import sys, cookieguard\n"
        "heavy = {'redis', 'psycopg', 'psycopg_pool', 'starlette', 'jinja2', 'django'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_lazy_store_names_load_on_access() -> None:
    from cookieguard.stores.redis import RedisStore

    assert cookieguard.RedisStore is RedisStore
    from cookieguard.stores.postgres_sync import SyncPostgresStore
    from cookieguard.stores.redis_sync import SyncRedisStore

    assert cookieguard.SyncRedisStore is SyncRedisStore
    assert cookieguard.SyncPostgresStore is SyncPostgresStore
