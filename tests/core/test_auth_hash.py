"""The session auth hash: bound to the password hash, verified across key rotation."""

from __future__ import annotations

from cookieguard.core._auth import AuthHasher, HashCheck, recheck_due, same_user
from cookieguard.core.signing import KeyRing

OLD = "old-secret-key-0123456789"
NEW = "new-secret-key-0123456789"


def test_hash_is_hex_hmac_and_changes_with_the_password() -> None:
    hasher = AuthHasher(KeyRing(NEW))
    first = hasher.auth_hash("argon2-hash-1")
    assert len(first) == 64 and int(first, 16) >= 0
    assert hasher.check(first, "argon2-hash-1") is HashCheck.VALID
    assert hasher.check(first, "argon2-hash-2") is HashCheck.INVALID
    assert hasher.auth_hash("argon2-hash-2") != first


def test_fallback_key_verifies_and_asks_for_an_upgrade() -> None:
    made_with_old = AuthHasher(KeyRing(OLD)).auth_hash("pw-hash")
    rotated = AuthHasher(KeyRing(NEW, fallbacks=[OLD]))
    assert rotated.check(made_with_old, "pw-hash") is HashCheck.UPGRADE
    assert rotated.matches(made_with_old, "pw-hash")
    upgraded = rotated.auth_hash("pw-hash")
    assert AuthHasher(KeyRing(NEW)).check(upgraded, "pw-hash") is HashCheck.VALID
    assert AuthHasher(KeyRing(NEW)).check(made_with_old, "pw-hash") is HashCheck.INVALID


def test_untrusted_stored_values_are_invalid_not_errors() -> None:
    hasher = AuthHasher(KeyRing(NEW))
    for stored in (None, "", 42, ["x"], "zz" * 32, "a" * 63, "\ud800" * 64):
        assert hasher.check(stored, "pw") is HashCheck.INVALID


def test_auth_hash_is_bound_to_its_purpose() -> None:
    ring = KeyRing(NEW)
    from cookieguard.core.signing import Signer

    other = Signer(ring, "something-else").signature(b"pw").hex()
    assert AuthHasher(ring).check(other, "pw") is HashCheck.INVALID


def test_same_user() -> None:
    assert same_user("42", "42")
    assert not same_user("42", "43")
    assert not same_user(42, "42")
    assert not same_user("\ud800", "x")


def test_recheck_is_due_once_the_interval_has_passed() -> None:
    assert not recheck_due(1000.0, 1000.0, 300)
    assert not recheck_due(1000, 1299.5, 300)  # an int time from a JSON store works too
    assert recheck_due(1000.0, 1300.0, 300)
    assert recheck_due(1000.0, 1000.0, 0)  # 0: every request


def test_an_unverifiable_check_time_is_always_due() -> None:
    for bad in (None, "1000", True, [1000], float("nan"), float("inf"), float("-inf")):
        assert recheck_due(bad, 1000.0, 300), bad
    assert recheck_due(1001.0, 1000.0, 300)  # in the future: another server's clock is ahead
