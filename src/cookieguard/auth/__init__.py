"""Login and logout, users and passwords, login throttling and "my sessions".

The PostgreSQL users table lives in `cookieguard.auth.postgres_users` (it needs psycopg).
"""

from cookieguard.auth.context import AuthConfig, AuthMiddleware, auth_config, default_hasher
from cookieguard.auth.login import (
    authenticate,
    change_password,
    get_user,
    get_user_id,
    login,
    logout,
    reset_password,
)
from cookieguard.auth.passwords import MAX_PASSWORD_LENGTH, PasswordCheck, PasswordHasher
from cookieguard.auth.sessions import (
    SessionEntry,
    list_sessions,
    revoke_all_sessions,
    revoke_other_sessions,
    revoke_session,
    stored_session,
)
from cookieguard.auth.sqlite_users import SQLiteUserStore
from cookieguard.auth.throttle import LoginThrottle, ThrottlePolicy, client_address
from cookieguard.auth.users import ManagedUserStore, User, UserStore

__all__ = [
    "MAX_PASSWORD_LENGTH",
    "AuthConfig",
    "AuthMiddleware",
    "LoginThrottle",
    "ManagedUserStore",
    "PasswordCheck",
    "PasswordHasher",
    "SQLiteUserStore",
    "SessionEntry",
    "ThrottlePolicy",
    "User",
    "UserStore",
    "auth_config",
    "authenticate",
    "change_password",
    "client_address",
    "default_hasher",
    "get_user",
    "get_user_id",
    "list_sessions",
    "login",
    "logout",
    "reset_password",
    "revoke_all_sessions",
    "revoke_other_sessions",
    "revoke_session",
    "stored_session",
]
