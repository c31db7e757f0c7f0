"""Password hashing: Argon2id by default, Django's hashes verified and upgraded, fair timing."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import statistics
import threading
import time
from pathlib import Path

import pytest

from cookieguard.auth._login import authenticate
from cookieguard.auth._passwords import (
    HASH_THREADS,
    MAX_PASSWORD_LENGTH,
    PasswordCheck,
    PasswordHasher,
)
from cookieguard.auth._sqlite_users import SQLiteUserStore

# Django's known-answer vector (tests/auth_tests/test_hashers.py, 1.5M iterations).
DJANGO_KAT = "pbkdf2_sha256$1500000$seasalt$P4UiMPVduVWIL/oS1GzH+IofsccjJNM5hUTikBvi5to="


def _django_pbkdf2(password: str, salt: str, iterations: int, algorithm: str = "sha256") -> str:
    dk = hashlib.pbkdf2_hmac(algorithm, password.encode(), salt.encode(), iterations)
    return f"pbkdf2_{algorithm}${iterations}${salt}${base64.b64encode(dk).decode()}"


@pytest.fixture(scope="module")
def hasher() -> PasswordHasher:
    return PasswordHasher()


def test_new_hashes_are_argon2id_with_owasp_parameters(hasher: PasswordHasher) -> None:
    encoded = hasher.hash("correct horse")
    assert encoded.startswith("$argon2id$v=19$m=7168,t=5,p=1$")
    assert hasher.hash("correct horse") != encoded  # salted
    assert hasher.verify(encoded, "correct horse").ok
    assert not hasher.verify(encoded, "correct horsE").ok
    assert not hasher.verify(encoded, "correct horse").needs_rehash


def test_django_pbkdf2_known_answer(hasher: PasswordHasher) -> None:
    check = hasher.verify(DJANGO_KAT, "l\u00e8tmein")
    assert check.ok and check.needs_rehash
    assert not hasher.verify(DJANGO_KAT, "letmein").ok


def test_django_pbkdf2_sha1_and_tampering(hasher: PasswordHasher) -> None:
    sha1 = _django_pbkdf2("s3cret", "abcdefghijklmnopqrstuv", 1000, "sha1")
    assert hasher.verify(sha1, "s3cret").ok
    broken = [
        "pbkdf2_sha256$notanumber$salt$AAAA",
        "pbkdf2_sha256$1000$salt",
        "pbkdf2_sha256$0$salt$AAAA",
        "pbkdf2_sha256$99999999999$salt$AAAA",
        "pbkdf2_sha256$\u0661\u0662$salt$AAAA",  # non-ASCII digits
        "md5$salt$whatever",
        "$argon2id$v=19$m=19456,t=2,p=1$garbage",
        "",
    ]
    for encoded in broken:
        assert not hasher.verify(encoded, "s3cret").ok


def test_django_argon2_format_verifies_and_wants_a_rehash(hasher: PasswordHasher) -> None:
    legacy = PasswordHasher(time_cost=1, memory_cost=2048, parallelism=2)
    django_style = "argon2" + legacy.hash("pw-1")
    check = hasher.verify(django_style, "pw-1")
    assert check.ok and check.needs_rehash
    own_old = legacy.hash("pw-1")
    assert hasher.verify(own_old, "pw-1") == type(check)(ok=True, needs_rehash=True)


def test_hashes_from_the_19_mib_row_still_verify_and_want_a_rehash(
    hasher: PasswordHasher,
) -> None:
    old = PasswordHasher(time_cost=2, memory_cost=19456).hash("pw-19")
    assert old.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert hasher.verify(old, "pw-19") == PasswordCheck(ok=True, needs_rehash=True)
    assert not hasher.verify(old, "pw-18").ok


async def test_async_hashing_runs_on_a_bounded_pool_of_threads(hasher: PasswordHasher) -> None:
    seen: set[str] = set()
    original = hasher.verify

    def recording(encoded: str, password: str) -> PasswordCheck:
        seen.add(threading.current_thread().name)
        return original(encoded, password)

    encoded = await hasher.ahash("pw")
    hasher.verify = recording  # type: ignore[method-assign]
    try:
        checks = await asyncio.gather(*(hasher.averify(encoded, "pw") for _ in range(8)))
    finally:
        del hasher.verify
    assert all(check.ok for check in checks)
    assert 1 <= len(seen) <= HASH_THREADS
    assert all(name.startswith("cookieguard-hash") for name in seen)


def test_unusable_and_bad_passwords_never_verify(hasher: PasswordHasher) -> None:
    assert not hasher.verify("!" + "x" * 40, "").ok
    encoded = hasher.hash("pw")
    assert not hasher.verify(encoded, "\ud800").ok
    assert not hasher.verify(encoded, "p" * (MAX_PASSWORD_LENGTH + 1)).ok
    for bad in ("", "\ud800", "p" * (MAX_PASSWORD_LENGTH + 1)):
        with pytest.raises(ValueError, match="passwords"):
            hasher.hash(bad)


async def test_hashing_runs_off_the_event_loop(hasher: PasswordHasher) -> None:
    import asyncio

    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.002)
            ticks += 1

    task = asyncio.create_task(ticker())
    encoded = await hasher.ahash("pw")
    assert (await hasher.averify(encoded, "pw")).ok
    task.cancel()
    assert ticks >= 2  # the loop kept running while Argon2 worked


async def test_login_with_a_django_hash_upgrades_it(tmp_path: Path, hasher: PasswordHasher) -> None:
    users = SQLiteUserStore(tmp_path / "u.db")
    try:
        await users.create_user("anna", _django_pbkdf2("tr0ub4dor", "seasalt2", 20_000))
        user = await authenticate(users, "anna", "tr0ub4dor", hasher=hasher)
        assert user is not None
        assert user.password_hash.startswith("$argon2id$")
        stored = await users.get_by_username("anna")
        assert stored is not None and stored.password_hash == user.password_hash
        # The upgraded hash keeps working, and a wrong password changes nothing.
        assert await authenticate(users, "anna", "tr0ub4dor", hasher=hasher) == user
        assert await authenticate(users, "anna", "wrong", hasher=hasher) is None
        again = await users.get_by_username("anna")
        assert again == stored
    finally:
        await users.close()


async def test_wrong_password_on_old_hash_is_not_upgraded(
    tmp_path: Path, hasher: PasswordHasher
) -> None:
    users = SQLiteUserStore(tmp_path / "u.db")
    try:
        old = _django_pbkdf2("right", "salty", 1000)
        await users.create_user("ben", old)
        assert await authenticate(users, "ben", "wrong", hasher=hasher) is None
        stored = await users.get_by_username("ben")
        assert stored is not None and stored.password_hash == old
    finally:
        await users.close()


async def test_unknown_user_costs_as_much_as_a_wrong_password(
    tmp_path: Path, hasher: PasswordHasher
) -> None:
    users = SQLiteUserStore(tmp_path / "u.db")
    try:
        await users.create_user("carol", await hasher.ahash("the right one"))

        async def timed(username: str) -> float:
            start = time.perf_counter()
            assert await authenticate(users, username, "not it", hasher=hasher) is None
            return time.perf_counter() - start

        await timed("carol")  # warm up connection and caches
        known: list[float] = []
        unknown: list[float] = []
        for _ in range(7):  # interleaved, so load spikes hit both sides
            known.append(await timed("carol"))
            unknown.append(await timed("nobody-by-this-name"))
        ratio = statistics.median(unknown) / statistics.median(known)
        # Argon2 dominates both (tens of ms); a skipped hash would make this ~0.01.
        assert 1 / 3 < ratio < 3.0, (known, unknown)
        assert statistics.median(unknown) > 0.005
    finally:
        await users.close()


# -- equal cost for known and unknown users ------------------------------------------------


async def paired_ratio(users, hasher, first: str, second: str, password: str, pairs: int) -> float:
    """Median over interleaved pairs of time(first) / time(second), both failing logins."""

    async def timed(username: str) -> float:
        start = time.perf_counter()
        assert await authenticate(users, username, password, hasher=hasher) is None
        return time.perf_counter() - start

    await timed(first), await timed(second)  # warm up connection, caches and the dummy hash
    ratios = []
    for i in range(pairs):
        # Alternate which goes first, so a drift in load hits both sides alike.
        if i % 2:
            a = await timed(first)
            b = await timed(second)
        else:
            b = await timed(second)
            a = await timed(first)
        ratios.append(a / b)
    return statistics.median(ratios)


@pytest.fixture
def cheap() -> PasswordHasher:
    """Argon2id at ~1 ms, so that the tests below take well under a second each."""
    return PasswordHasher(time_cost=1, memory_cost=1024)


async def test_an_oversized_password_costs_the_same_for_known_and_unknown_users(
    tmp_path: Path, cheap: PasswordHasher
) -> None:
    users = SQLiteUserStore(tmp_path / "u.db")
    try:
        await users.create_user("carol", await cheap.ahash("the right one"))
        huge = "x" * 2_000_000  # an unknown user's check must not hash all of it
        ratio = await paired_ratio(users, cheap, "carol", "nobody-by-this-name", huge, 30)
        assert 0.75 < ratio < 1 / 0.75, ratio
    finally:
        await users.close()


async def test_legacy_rows_cost_the_same_as_unknown_users_once_wrapped(
    tmp_path: Path, cheap: PasswordHasher
) -> None:
    from cookieguard.auth.legacy import wrap_legacy_hashes

    users = SQLiteUserStore(tmp_path / "u.db")
    try:
        # PBKDF2 at 20,000 iterations costs several times this Argon2 (as Django's 1M rows
        # cost 20x the default Argon2id): the leak the wrapping and padding must close.
        legacy_row = _django_pbkdf2("old secret", "seasalt", 20_000)
        await users.create_user("legacy", legacy_row)
        await users.create_user("modern", await cheap.ahash("new secret"))
        unknown = "nobody-by-this-name"
        assert await paired_ratio(users, cheap, "legacy", unknown, "guess", 10) > 2

        report = await wrap_legacy_hashes(users, cheap)
        assert (report.wrapped, report.legacy, report.max_iterations) == (1, 1, 20_000)
        stored = await users.get_by_username("legacy")
        assert stored is not None
        assert stored.password_hash.startswith("argon2id_pbkdf2_sha256$20000$seasalt$$argon2id$")
        assert legacy_row.rsplit("$", 1)[1] not in stored.password_hash  # no bare PBKDF2
        again = await wrap_legacy_hashes(users, cheap)  # idempotent
        assert (again.wrapped, again.legacy) == (0, 1)

        padded = PasswordHasher(
            time_cost=1, memory_cost=1024, legacy_iterations=report.max_iterations
        )
        for name in ("legacy", "modern"):
            ratio = await paired_ratio(users, padded, name, unknown, "guess", 30)
            assert 0.75 < ratio < 1 / 0.75, (name, ratio)

        # The wrapped row logs in with the old password and is upgraded to plain Argon2id.
        assert await authenticate(users, "legacy", "old secretx", hasher=padded) is None
        user = await authenticate(users, "legacy", "old secret", hasher=padded)
        assert user is not None and user.password_hash.startswith("$argon2id$")
        assert await authenticate(users, "legacy", "old secret", hasher=padded) == user
    finally:
        await users.close()


def test_wrapped_hashes_verify_like_the_rows_they_replace(hasher: PasswordHasher) -> None:
    wrapped = hasher.wrap(DJANGO_KAT)
    assert wrapped is not None and wrapped.startswith("argon2id_pbkdf2_sha256$1500000$seasalt$$")
    assert DJANGO_KAT.rsplit("$", 1)[1] not in wrapped  # the PBKDF2 output is not kept
    assert hasher.verify(wrapped, "l\u00e8tmein") == PasswordCheck(ok=True, needs_rehash=True)
    assert not hasher.verify(wrapped, "letmein").ok
    sha1 = _django_pbkdf2("s3cret", "abcdefghijklmnopqrstuv", 1000, "sha1")
    wrapped_sha1 = hasher.wrap(sha1)
    assert wrapped_sha1 is not None and wrapped_sha1.startswith("argon2id_pbkdf2_sha1$1000$")
    assert hasher.verify(wrapped_sha1, "s3cret").ok
    # Only plain PBKDF2 rows are wrapped; corrupt wrapped rows fail like any bad hash.
    for other in (wrapped, hasher.hash("pw"), "!unusable", "pbkdf2_sha256$0$salt$AAAA", ""):
        assert hasher.wrap(other) is None
    for broken in (
        wrapped.replace("$1500000$", "$1500001$"),
        wrapped[:-8],
        "argon2id_pbkdf2_sha256$1000$salt$$argon2id$garbage",
        "argon2id_pbkdf2_sha256$x$salt$$argon2id$",
    ):
        assert not hasher.verify(broken, "l\u00e8tmein").ok


def test_legacy_iterations_are_bounded() -> None:
    with pytest.raises(ValueError, match="legacy_iterations"):
        PasswordHasher(legacy_iterations=-1)
    with pytest.raises(ValueError, match="legacy_iterations"):
        PasswordHasher(legacy_iterations=10**9)
