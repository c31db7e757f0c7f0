"""cookieguard: Django-grade CSRF protection, sessions and login for any ASGI app.

Everything an application needs is importable from here. Framework helpers live in
`cookieguard.integrations` (they import their framework); the Redis and PostgreSQL stores are
loaded on first use so that `import cookieguard` never pulls in a driver the app doesn't use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cookieguard.asgi._headers import SecurityHeadersMiddleware
from cookieguard.asgi._limits import BodyLimitMiddleware
from cookieguard.asgi._responses import Refusal
from cookieguard.asgi.csrf import (
    CSRFMiddleware,
    csrf_exempt,
    csrf_input,
    csrf_meta,
    get_csrf_token,
    rotate_csrf_token,
)
from cookieguard.asgi.session import SessionMiddleware, get_session, get_session_store
from cookieguard.auth import (
    AuthConfig,
    AuthMiddleware,
    LoginThrottle,
    ManagedUserStore,
    PasswordHasher,
    SessionEntry,
    SQLiteUserStore,
    SyncSQLiteUserStore,
    SyncUserStore,
    ThrottlePolicy,
    User,
    UserStore,
    authenticate,
    change_password,
    client_address,
    get_user,
    get_user_id,
    list_sessions,
    login,
    logout,
    revoke_other_sessions,
    revoke_session,
    stored_session,
)
from cookieguard.backends import SessionBackend, SignedCookieBackend, StoreBackend
from cookieguard.config import CookieConfig, CSRFConfig, SessionConfig
from cookieguard.core.redirects import is_safe_redirect, safe_next
from cookieguard.core.session import Session
from cookieguard.core.signing import KeyRing
from cookieguard.errors import (
    AuthError,
    ConfigError,
    CookieguardError,
    InactiveUser,
    InvalidPassword,
    InvalidSessionChange,
    InvalidUsername,
    KeyCollision,
    LoginThrottled,
    MiddlewareMissing,
    RequestRejected,
    SessionError,
    SessionTooLarge,
    StoreUnavailable,
    UserExists,
    UserNotFound,
)
from cookieguard.guard import CookieGuard
from cookieguard.stores import open_store, open_sync_store
from cookieguard.stores.base import (
    CounterStore,
    SessionInfo,
    SessionRecord,
    SessionStore,
    SyncCounterStore,
    SyncSessionStore,
)
from cookieguard.stores.memory import MemoryStore, SyncMemoryStore
from cookieguard.stores.sqlite import SQLiteStore
from cookieguard.stores.sqlite_sync import SyncSQLiteStore

if TYPE_CHECKING:
    from cookieguard.stores.postgres import PostgresStore
    from cookieguard.stores.postgres_sync import SyncPostgresStore
    from cookieguard.stores.redis import RedisStore
    from cookieguard.stores.redis_sync import SyncRedisStore

__version__ = "0.1.0"

_LAZY = {
    "PostgresStore": "cookieguard.stores.postgres",
    "RedisStore": "cookieguard.stores.redis",
    "SyncPostgresStore": "cookieguard.stores.postgres_sync",
    "SyncRedisStore": "cookieguard.stores.redis_sync",
}


def __getattr__(name: str) -> Any:
    """Load driver-backed stores on first access (PEP 562)."""
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'cookieguard' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


__all__ = [
    "AuthConfig",
    "AuthError",
    "AuthMiddleware",
    "BodyLimitMiddleware",
    "CSRFConfig",
    "CSRFMiddleware",
    "ConfigError",
    "CookieConfig",
    "CookieGuard",
    "CookieguardError",
    "CounterStore",
    "InactiveUser",
    "InvalidPassword",
    "InvalidSessionChange",
    "InvalidUsername",
    "KeyCollision",
    "KeyRing",
    "LoginThrottle",
    "LoginThrottled",
    "ManagedUserStore",
    "MemoryStore",
    "MiddlewareMissing",
    "PasswordHasher",
    "PostgresStore",
    "RedisStore",
    "Refusal",
    "RequestRejected",
    "SQLiteStore",
    "SQLiteUserStore",
    "SecurityHeadersMiddleware",
    "Session",
    "SessionBackend",
    "SessionConfig",
    "SessionEntry",
    "SessionError",
    "SessionInfo",
    "SessionMiddleware",
    "SessionRecord",
    "SessionStore",
    "SessionTooLarge",
    "SignedCookieBackend",
    "StoreBackend",
    "StoreUnavailable",
    "SyncCounterStore",
    "SyncMemoryStore",
    "SyncPostgresStore",
    "SyncRedisStore",
    "SyncSQLiteStore",
    "SyncSQLiteUserStore",
    "SyncSessionStore",
    "SyncUserStore",
    "ThrottlePolicy",
    "User",
    "UserExists",
    "UserNotFound",
    "UserStore",
    "__version__",
    "authenticate",
    "change_password",
    "client_address",
    "csrf_exempt",
    "csrf_input",
    "csrf_meta",
    "get_csrf_token",
    "get_session",
    "get_session_store",
    "get_user",
    "get_user_id",
    "is_safe_redirect",
    "list_sessions",
    "login",
    "logout",
    "open_store",
    "open_sync_store",
    "revoke_other_sessions",
    "revoke_session",
    "rotate_csrf_token",
    "safe_next",
    "stored_session",
]
