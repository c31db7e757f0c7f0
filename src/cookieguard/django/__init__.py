"""Share one login with a running Django site: its sessions, users, passwords and CSRF tokens.

A cookieguard service mounted beside a Django site (the same domain, the same database) reads
and writes Django's ``django_session`` rows, verifies and writes Django's password hashes in
its user table, computes Django's session auth hash and uses Django's cookie names, so a user
logged in on either side is logged in on both, a logout on either ends both, and nobody is
logged out on the day a page moves. Nothing here imports Django.

* `from_django_settings` builds every piece from the Django settings in use;
* `DjangoSessionBackend`: sessions in ``django_session`` (SQLite or PostgreSQL);
* `DjangoUserStore`: users in ``auth_user`` or a custom user table;
* `DjangoPasswordHasher`: Django's hash formats, upgraded only to Django's current one;
* `AuthConfig(django_auth_backend=...)`: Django's ``_auth_user_*`` session keys and hash.
"""

from cookieguard.core._django_signing import (
    DJANGO_SESSION_SALT,
    DjangoAuthHasher,
    SessionCodec,
    session_salt,
)
from cookieguard.django._hashers import DJANGO_PBKDF2_ITERATIONS, DjangoPasswordHasher
from cookieguard.django._session_store import DjangoSessionStore
from cookieguard.django._sessions import DjangoSessionBackend
from cookieguard.django._settings import DjangoSite, from_django_settings
from cookieguard.django._tables import open_database
from cookieguard.django._users import DjangoUserStore

__all__ = [
    "DJANGO_PBKDF2_ITERATIONS",
    "DJANGO_SESSION_SALT",
    "DjangoAuthHasher",
    "DjangoPasswordHasher",
    "DjangoSessionBackend",
    "DjangoSessionStore",
    "DjangoSite",
    "DjangoUserStore",
    "SessionCodec",
    "from_django_settings",
    "open_database",
    "session_salt",
]
