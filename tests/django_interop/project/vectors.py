"""Django 6's own answers, for tests/django_interop/test_django_vectors.py (run in the 6.x venv).

``python vectors.py make`` prints what Django makes: signed session data, session auth hashes,
a hash from every password hasher Django ships. ``python vectors.py check`` reads what
cookieguard made (JSON on stdin) and prints Django's verdict on each.
"""

import json
import sys
from unittest import mock

import django
from django.conf import settings

settings.configure(
    SECRET_KEY="new-secret-key-for-the-vector-tests-0123456789",
    SECRET_KEY_FALLBACKS=["old-secret-key-for-the-vector-tests-0123456789"],
    INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes"],
    PASSWORD_HASHERS=[
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
        "django.contrib.auth.hashers.Argon2PasswordHasher",
        "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
        "django.contrib.auth.hashers.BCryptPasswordHasher",
        "django.contrib.auth.hashers.ScryptPasswordHasher",
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ],
)
django.setup()

from django.contrib.auth.hashers import check_password, identify_hasher, make_password  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.contrib.sessions.backends.db import SessionStore  # noqa: E402

SESSIONS = [
    {},
    {"_auth_user_id": "1", "_auth_user_backend": "django.contrib.auth.backends.ModelBackend"},
    {"cart": list(range(200)), "name": "Zoë ☃ \u2028", "n": 1.5, "ok": True, "none": None},
    {"_session_expiry": 600, "nested": {"a": [1, {"b": "c" * 300}]}},
]
HASHERS = ["pbkdf2_sha256", "pbkdf2_sha1", "argon2", "bcrypt_sha256", "bcrypt", "scrypt", "md5"]
PASSWORD = "correct horse battery staple é"
STAMP = 1_796_000_000


def make() -> dict:
    store = SessionStore()
    with mock.patch("django.core.signing.time.time", return_value=STAMP + 0.7):
        encoded = [store.encode(data) for data in SESSIONS]
    old = settings.SECRET_KEY_FALLBACKS[0]
    with (
        mock.patch("django.core.signing.time.time", return_value=STAMP),
        mock.patch.object(settings, "SECRET_KEY", old),
    ):
        old_key = store.encode(SESSIONS[1])
    password_hash = make_password(PASSWORD)
    user = User(password=password_hash)
    with mock.patch.object(settings, "SECRET_KEY", old):
        old_auth_hash = user.get_session_auth_hash()
    return {
        "salt": store.key_salt,
        "stamp": STAMP,
        "sessions": SESSIONS,
        "encoded": encoded,
        "old_key": old_key,
        "auth_hash": user.get_session_auth_hash(),
        "old_auth_hash": old_auth_hash,
        "password": PASSWORD,
        "password_hash": password_hash,
        "hashes": {name: make_password(PASSWORD, hasher=name) for name in HASHERS},
    }


def check(made: dict) -> dict:
    store = SessionStore()
    user = User(password=made["password_hash"])
    verdict = {}
    for name, encoded in made["hashes"].items():
        hasher = identify_hasher(encoded)
        verdict[name] = {
            "right": check_password(made["password"], encoded),
            "must_update": hasher.must_update(encoded),
        }
    return {
        "decoded": [store.decode(text) for text in made["encoded"]],
        "auth_hash_ok": user.get_session_auth_hash() == made["auth_hash"],
        "hashes": verdict,
    }


if __name__ == "__main__":
    if sys.argv[1] == "make":
        print(json.dumps(make()))
    else:
        print(json.dumps(check(json.load(sys.stdin))))
