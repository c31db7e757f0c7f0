"""Byte for byte with Django 6 itself: session data, the auth hash, every password hasher.

Django runs in its own venv (tests/django_interop/django_env.py) and answers through
project/vectors.py: once with what it makes (cookieguard must decode and verify it, and
re-encode the same bytes), once judging what cookieguard made.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from cookieguard.core._auth import HashCheck
from cookieguard.core._django_signing import DJANGO_SESSION_SALT, DjangoAuthHasher, SessionCodec
from cookieguard.django import DjangoPasswordHasher
from cookieguard.django._hashers import DJANGO_ALGORITHMS
from tests.store_backends import missing

from .django_env import django_python

VECTORS = Path(__file__).parent / "project" / "vectors.py"
NEW = "new-secret-key-for-the-vector-tests-0123456789"
OLD = "old-secret-key-for-the-vector-tests-0123456789"
pytestmark = pytest.mark.timeout(180)


def _django(mode: str, stdin: str = "") -> Any:
    python = django_python()
    if python is None:
        missing("no Python 3.12+ for Django 6 (see tests/django_interop/django_env.py)")
    done = subprocess.run(
        [str(python), str(VECTORS), mode],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def made() -> Any:
    return _django("make")


def test_the_db_backend_salt_is_the_store_qualname(made: Any) -> None:
    assert made["salt"] == DJANGO_SESSION_SALT == "django.contrib.sessions.SessionStore"


def test_djangos_session_data_decodes_and_reencodes_to_the_same_bytes(made: Any) -> None:
    codec = SessionCodec(NEW, [OLD])
    for data, encoded in zip(made["sessions"], made["encoded"], strict=True):
        assert codec.decode(encoded) == (data, "")
        assert codec.encode(data, now=made["stamp"] + 0.7) == encoded
    assert any(e.startswith(".") for e in made["encoded"])  # compressed ones included
    assert not all(e.startswith(".") for e in made["encoded"])
    # A row Django signed with a key now in SECRET_KEY_FALLBACKS still reads; without the
    # fallback (or under another salt) it is refused.
    assert codec.decode(made["old_key"]) == (made["sessions"][1], "")
    assert SessionCodec(NEW).decode(made["old_key"]) == (None, "bad signature")
    assert SessionCodec(NEW, [OLD], salt="x").decode(made["encoded"][1])[0] is None


def test_the_auth_hash_is_djangos(made: Any) -> None:
    hasher = DjangoAuthHasher(NEW, [OLD])
    assert hasher.auth_hash(made["password_hash"]) == made["auth_hash"]
    assert hasher.check(made["auth_hash"], made["password_hash"]) is HashCheck.VALID
    assert hasher.check(made["old_auth_hash"], made["password_hash"]) is HashCheck.UPGRADE
    assert DjangoAuthHasher(NEW).check(made["old_auth_hash"], made["password_hash"]) is (
        HashCheck.INVALID
    )
    assert hasher.check(made["auth_hash"], made["password_hash"] + "x") is HashCheck.INVALID


def test_every_django_hasher_verifies_here(made: Any) -> None:
    hasher = DjangoPasswordHasher()
    password = made["password"]
    for name, encoded in made["hashes"].items():
        right = hasher.verify(encoded, password)
        assert right.ok, name
        # Only Django 6.1's own default (pbkdf2_sha256, 1,500,000 iterations) is current.
        assert right.needs_rehash is (name != "pbkdf2_sha256"), name
        assert not hasher.verify(encoded, password + "x").ok, name


def test_django_reads_what_cookieguard_writes(made: Any) -> None:
    codec = SessionCodec(NEW, [OLD])
    ours = {
        "encoded": [codec.encode(data, now=made["stamp"]) for data in made["sessions"]],
        "password": made["password"],  # (a wrong one fails: test_every_django_hasher_...)
        "password_hash": made["password_hash"],
        "auth_hash": DjangoAuthHasher(NEW).auth_hash(made["password_hash"]),
        "hashes": {
            name: DjangoPasswordHasher(algorithm=name).hash(made["password"])
            for name in DJANGO_ALGORITHMS
        },
    }
    verdict = _django("check", json.dumps(ours))
    assert verdict["decoded"] == made["sessions"]
    assert verdict["auth_hash_ok"] is True
    for name in DJANGO_ALGORITHMS:
        # Django verifies it and sees nothing to upgrade (its own current parameters).
        assert verdict["hashes"][name] == {"right": True, "must_update": False}
