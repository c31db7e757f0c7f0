"""Django's formats without Django, checked against Django's own code (the dev dependency).

Signing: for any JSON session, `SessionCodec.encode` is byte for byte ``signing.dumps`` and
each decodes the other. Passwords: `DjangoPasswordHasher` verifies what Django's hashers make
and Django verifies what it writes; bad rows fail without raising; the user store never
stores a hash Django cannot read. Settings: `from_django_settings` keeps every name.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any
from unittest import mock

import pytest
from django.contrib.auth.hashers import check_password
from django.core import signing
from hypothesis import given, settings
from hypothesis import strategies as st

from cookieguard.config import CookieConfig
from cookieguard.core._django_signing import SessionCodec, b62_decode, b62_encode, salted_hmac
from cookieguard.django import DjangoPasswordHasher, DjangoUserStore, from_django_settings
from cookieguard.django._hashers import is_django_hash
from cookieguard.errors import ConfigError

from .conftest import SALT, SECRET, DjangoTables

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30,
)
sessions = st.dictionaries(st.text(), json_values, max_size=8)


@settings(max_examples=200, deadline=None)
@given(data=sessions, stamp=st.integers(min_value=0, max_value=2**40))
def test_encode_is_signing_dumps_byte_for_byte(data: dict[str, Any], stamp: int) -> None:
    with mock.patch("django.core.signing.time.time", return_value=stamp):
        theirs = signing.dumps(data, key=SECRET, salt=SALT, compress=True)
    ours = SessionCodec(SECRET).encode(data, now=stamp)
    assert ours == theirs
    assert signing.loads(ours, key=SECRET, salt=SALT) == data
    assert SessionCodec(SECRET).decode(theirs) == (data, "")


@given(st.integers(min_value=-(2**60), max_value=2**60))
def test_base62_round_trips_as_djangos(number: int) -> None:
    assert b62_encode(number) == signing.b62_encode(number)
    assert b62_decode(b62_encode(number)) == number


def test_salted_hmac_is_djangos() -> None:
    from django.utils.crypto import salted_hmac as theirs

    ours = salted_hmac("a.salt", "value", SECRET).hexdigest()
    assert ours == theirs("a.salt", "value", SECRET, algorithm="sha256").hexdigest()


@pytest.mark.parametrize(
    "value",
    ["", ":", "a:b", "a:b:c", "é:x:y", "." + "A" * 40 + ":1:x", "x" * 10_000],
)
def test_decode_never_raises(value: str) -> None:
    assert SessionCodec(SECRET).decode(value)[0] is None


def test_a_signed_zip_bomb_is_refused() -> None:
    import base64
    import zlib

    from cookieguard.core import _django_signing as django_signing

    bomb = zlib.compress(b'{"a":"' + b"x" * (20 * 1024 * 1024) + b'"}')
    body = "." + base64.urlsafe_b64encode(bomb).rstrip(b"=").decode()
    value = f"{body}:{b62_encode(1)}"
    codec = SessionCodec(SECRET)
    signed = f"{value}:{codec._signature(codec._keys[0], value)}"
    assert codec.decode(signed) == (None, "signed but not JSON (pickled or corrupt)")
    assert django_signing._MAX_INFLATED < 20 * 1024 * 1024


FAST = {"iterations": 1000}


def test_unsalted_legacy_hashes_verify_and_are_upgraded() -> None:
    md5 = hashlib.md5(b"old pw").hexdigest()
    sha1 = hashlib.sha1(b"old pw").hexdigest()
    hasher = DjangoPasswordHasher(**FAST)
    for encoded in (md5, f"md5$${md5}", f"sha1$${sha1}"):
        check = hasher.verify(encoded, "old pw")
        assert check.ok and check.needs_rehash
        assert not hasher.verify(encoded, "old pwx").ok


# Every hasher Django ships, both ways, at Django 6.1's own costs: test_django_vectors.py.
@pytest.mark.parametrize("algorithm", ["pbkdf2_sha256", "pbkdf2_sha1"])
def test_django_verifies_the_hashes_written_here(algorithm: str) -> None:
    hasher = DjangoPasswordHasher(algorithm=algorithm, **FAST)
    encoded = hasher.hash("a password")
    assert is_django_hash(encoded)
    assert check_password("a password", encoded)
    assert not check_password("another", encoded)
    again = hasher.verify(encoded, "a password")
    assert again.ok and not again.needs_rehash


@pytest.mark.parametrize(
    "encoded",
    [
        "pbkdf2_sha256$abc$salt$hash",
        "pbkdf2_sha256$99999999999$salt$hash",
        "pbkdf2_sha256$1000",
        "argon2$argon2id$v=19$m=999999999,t=2,p=8$c2FsdHNhbHQ$aGFzaA",
        "argon2$garbage",
        "scrypt$3$salt$8$5$hash",
        "scrypt$16384$salt",
        "bcrypt_sha256$$2b$99$abc",
        "bcrypt$garbage",
        "md5$onlysalt",
        "!unusable",
        "",
        "something$else",
        "$argon2id$v=19$m=7168,t=5,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
    ],
)
def test_a_bad_row_fails_without_raising(encoded: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="cookieguard")
    assert not DjangoPasswordHasher(**FAST).verify(encoded, "pw").ok
    assert "pw" not in " ".join(r.getMessage() for r in caplog.records).split()


def test_wrapping_and_unreadable_algorithms_are_refused() -> None:
    assert DjangoPasswordHasher(**FAST).wrap("pbkdf2_sha256$1000$salt$hash") is None
    with pytest.raises(ConfigError):
        DjangoPasswordHasher(algorithm="md5")
    assert not is_django_hash("$argon2id$v=19$m=7168,t=5,p=1$abc$def")
    assert not is_django_hash("argon2id_pbkdf2_sha256$1000$salt$rest")


async def test_the_user_store_respects_django_rows(tables: DjangoTables) -> None:
    hasher = DjangoPasswordHasher(**FAST)
    uid = await tables.add_user("alice", hasher.hash("pw"))
    off = await tables.add_user("frozen", hasher.hash("pw"), active=False)
    users = DjangoUserStore(tables.location, table=tables.users)
    alice = await users.get_by_username(
        "\uff41\uff4c\uff49\uff43\uff45"
    )  # fullwidth: NFKC, as Django's form
    assert alice is not None and alice.id == uid and alice.is_active
    frozen = await users.get_by_id(off)
    assert frozen is not None and frozen.is_active is False
    assert await users.get_by_id("not-a-number") is None
    # A hash Django cannot read is never stored; Django's own format is.
    assert await users.set_password(uid, "$argon2id$v=19$m=7168,t=5,p=1$abc$def") is False
    new = hasher.hash("new")
    assert await users.set_password(uid, new) is True
    stored = await users.get_by_id(uid)
    assert stored is not None and stored.password_hash == new
    with pytest.raises(ConfigError):
        await users.create_user("bob", new)
    await users.close()


def test_settings_keep_every_name() -> None:
    site = from_django_settings(
        {
            "SECRET_KEY": SECRET,
            "SECRET_KEY_FALLBACKS": ["an-older-secret-key-0123456789"],
            "SESSION_COOKIE_NAME": "sid",
            "SESSION_COOKIE_DOMAIN": ".example.com",
            "SESSION_COOKIE_PATH": "/app",
            "SESSION_COOKIE_SECURE": True,
            "SESSION_COOKIE_HTTPONLY": True,
            "SESSION_COOKIE_SAMESITE": "Strict",
            "SESSION_COOKIE_AGE": 3600,
            "CSRF_COOKIE_NAME": "xsrf",
            "CSRF_COOKIE_DOMAIN": ".example.com",
            "CSRF_COOKIE_PATH": "/app",
            "CSRF_COOKIE_SECURE": False,
            "CSRF_COOKIE_HTTPONLY": False,
            "CSRF_COOKIE_SAMESITE": False,
            "CSRF_COOKIE_AGE": None,
            "CSRF_HEADER_NAME": "HTTP_X_XSRF_TOKEN",
            "CSRF_TRUSTED_ORIGINS": ["https://*.example.com"],
            "CSRF_USE_SESSIONS": True,
            "PASSWORD_HASHERS": ["django.contrib.auth.hashers.ScryptPasswordHasher"],
            "AUTHENTICATION_BACKENDS": ["myapp.backends.EmailBackend"],
            "AUTH_USER_MODEL": "accounts.Member",
            "DATABASES": {
                "default": {
                    "ENGINE": "django.db.backends.postgresql",
                    "NAME": "site",
                    "USER": "web",
                    "PASSWORD": "p@ss",
                    "HOST": "db",
                    "PORT": 5433,
                }
            },
        }
    )
    assert site.session.cookie == CookieConfig(
        name="sid", path="/app", domain=".example.com", secure=True, samesite="Strict"
    )
    assert site.session.idle_timeout == 3600 and site.cookie_age == 3600
    assert site.session.absolute_timeout is None
    assert site.csrf.cookie == CookieConfig(
        name="xsrf", path="/app", domain=".example.com", httponly=False, samesite=None
    )
    assert site.csrf.cookie_max_age is None and site.csrf.header_name == "X-XSRF-TOKEN"
    assert site.csrf.trusted_origins == ("https://*.example.com",) and site.csrf.use_session
    assert site.passwords.algorithm == "scrypt"
    assert site.auth_backend == "myapp.backends.EmailBackend"
    assert site.user_table == "accounts_member"
    assert site.database == "postgresql://web:p%40ss@db:5433/site"
    assert "p@ss" not in repr(site) and SECRET not in repr(site)
    assert list(site.keyring.fallbacks) == ["an-older-secret-key-0123456789"]


def test_django_defaults() -> None:
    site = from_django_settings({"SECRET_KEY": SECRET})
    assert site.session.cookie == CookieConfig(name="sessionid")
    assert site.csrf.cookie == CookieConfig(name="csrftoken", httponly=False)
    assert site.csrf.header_name == "X-CSRFTOKEN" and site.csrf.cookie_max_age == 31_449_600
    assert site.passwords.algorithm == "pbkdf2_sha256"
    assert site.passwords.iterations == 1_500_000
    assert site.auth_backend == "django.contrib.auth.backends.ModelBackend"
    assert site.user_table == "auth_user" and site.database is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SESSION_ENGINE", "django.contrib.sessions.backends.cached_db"),
        ("SESSION_ENGINE", "django.contrib.sessions.backends.signed_cookies"),
        ("SESSION_SERIALIZER", "myapp.PickleSerializer"),
        ("SESSION_COOKIE_SAMESITE", "lax-ish"),
        ("CSRF_HEADER_NAME", "X-CSRFToken"),
        ("SECRET_KEY", ""),
    ],
)
def test_settings_that_cannot_be_shared_are_refused(name: str, value: str) -> None:
    with pytest.raises(ConfigError):
        from_django_settings({"SECRET_KEY": SECRET, name: value})


def test_a_custom_session_store_needs_its_salt() -> None:
    settings_ = {"SECRET_KEY": SECRET, "SESSION_ENGINE": "myapp.sessions"}
    with pytest.raises(ConfigError, match="session_salt"):
        from_django_settings(settings_)
    site = from_django_settings(settings_, session_salt="django.contrib.sessions.MyStore")
    assert site.session_salt == "django.contrib.sessions.MyStore"


def test_cookieguard_django_never_imports_django() -> None:
    import subprocess
    import sys

    code = (
        "import sys, cookieguard.django as d\n"
        "from cookieguard.core.signing import KeyRing\n"
        "site = d.from_django_settings({'SECRET_KEY': 'k' * 50})\n"
        "site.session_backend('x.sqlite3'); site.user_store('x.sqlite3')\n"
        "d.DjangoPasswordHasher(iterations=10).hash('pw')\n"
        "print(sorted(m for m in sys.modules if m == 'django' or m.startswith('django.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
