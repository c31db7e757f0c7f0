"""cookieguard: Django-grade CSRF protection, sessions and login for any ASGI app."""

from cookieguard.config import CookieConfig, CSRFConfig, SessionConfig
from cookieguard.core.signing import KeyRing
from cookieguard.errors import (
    AuthError,
    ConfigError,
    CookieguardError,
    CSRFRejected,
    LoginThrottled,
    RequestRejected,
    SessionDeleted,
    SessionError,
    SessionTooLarge,
    StoreUnavailable,
    UserExists,
)

__version__ = "0.1.0"

__all__ = [
    "AuthError",
    "CSRFConfig",
    "CSRFRejected",
    "ConfigError",
    "CookieConfig",
    "CookieguardError",
    "KeyRing",
    "LoginThrottled",
    "RequestRejected",
    "SessionConfig",
    "SessionDeleted",
    "SessionError",
    "SessionTooLarge",
    "StoreUnavailable",
    "UserExists",
    "__version__",
]
