"""Login and logout, users and passwords, login throttling and "my sessions".

The PostgreSQL users table lives in `cookieguard.auth.postgres_users` (it needs psycopg).
"""

from cookieguard.auth._context import AuthConfig, AuthMiddleware, auth_config, default_hasher
from cookieguard.auth._login import authenticate, get_user, get_user_id, login, logout
from cookieguard.auth._password_change import change_password, reset_password
from cookieguard.auth._passwords import MAX_PASSWORD_LENGTH, PasswordCheck, PasswordHasher
from cookieguard.auth._recent import RecentLoginPolicy, is_recent_login, login_age, reauthenticate
from cookieguard.auth._remember import (
    REMEMBER_LABEL,
    RememberConfig,
    RememberMiddleware,
    RememberStore,
    SessionStoreRememberStore,
    forget,
    remember,
)
from cookieguard.auth._sessions import (
    SessionEntry,
    list_sessions,
    revoke_all_sessions,
    revoke_other_sessions,
    revoke_session,
    stored_session,
)
from cookieguard.auth._sqlite_users import SQLiteUserStore, SyncSQLiteUserStore
from cookieguard.auth._throttle import LoginThrottle, ThrottlePolicy, client_address
from cookieguard.auth._users import ManagedUserStore, User, UserStore
from cookieguard.auth._users_sync import SyncManagedUserStore, SyncUserStore

__all__ = [
    "MAX_PASSWORD_LENGTH",
    "REMEMBER_LABEL",
    "AuthConfig",
    "AuthMiddleware",
    "LoginThrottle",
    "ManagedUserStore",
    "PasswordCheck",
    "PasswordHasher",
    "RecentLoginPolicy",
    "RememberConfig",
    "RememberMiddleware",
    "RememberStore",
    "SQLiteUserStore",
    "SessionEntry",
    "SessionStoreRememberStore",
    "SyncManagedUserStore",
    "SyncSQLiteUserStore",
    "SyncUserStore",
    "ThrottlePolicy",
    "User",
    "UserStore",
    "auth_config",
    "authenticate",
    "change_password",
    "client_address",
    "default_hasher",
    "forget",
    "get_user",
    "get_user_id",
    "is_recent_login",
    "list_sessions",
    "login",
    "login_age",
    "logout",
    "reauthenticate",
    "remember",
    "reset_password",
    "revoke_all_sessions",
    "revoke_other_sessions",
    "revoke_session",
    "stored_session",
]
