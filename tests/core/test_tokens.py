from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cookieguard.core import tokens

ALPHABET = string.ascii_letters + string.digits
secrets_strategy = st.text(alphabet=ALPHABET, min_size=32, max_size=32)


def test_known_answer_vector_from_django() -> None:
    token = "1bcdefghij2bcdefghij3bcdefghij4bcdefghij5bcdefghij6bcdefghijABCD"
    assert tokens.unmask_token(token) == "lcccccccX2kcccccccY2jcccccccssIC"
    assert tokens.token_matches_secret(token, "lcccccccX2kcccccccY2jcccccccssIC")


def test_secret_shape() -> None:
    secret = tokens.new_csrf_secret()
    assert len(secret) == 32
    assert set(secret) <= set(ALPHABET)
    assert tokens.new_csrf_secret() != secret


def test_secret_draw_tops_up_when_too_many_bytes_are_rejected(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Bytes 248..255 are dropped (they would bias the result); a draw that keeps fewer than
    # 32 indices must fall back to drawing more, never return a short or biased secret.
    draws: list[int] = []

    def mostly_rejected(count: int) -> bytes:
        draws.append(count)
        return bytes([255] * (count - 5) + [0, 1, 2, 3, 4])

    monkeypatch.setattr(tokens.secrets, "token_bytes", mostly_rejected)
    secret = tokens.new_csrf_secret()
    assert len(secret) == 32 and set(secret) <= set(ALPHABET)
    assert draws == [40]  # the fallback draws from the OS through its own default source
    assert not secret.startswith("abcde")  # the five kept indices were not used alone


@given(secrets_strategy)
def test_mask_round_trip_and_fresh_pad(secret: str) -> None:
    first, second = tokens.mask_secret(secret), tokens.mask_secret(secret)
    assert len(first) == 64 and set(first) <= set(ALPHABET)
    assert first != second
    assert tokens.unmask_token(first) == secret
    assert tokens.token_matches_secret(first, secret)
    assert tokens.token_matches_secret(secret, secret)


def test_mismatches_and_malformed_tokens() -> None:
    secret = tokens.new_csrf_secret()
    other = tokens.new_csrf_secret()
    assert not tokens.token_matches_secret(tokens.mask_secret(other), secret)
    assert not tokens.token_matches_secret(other, secret)
    assert not tokens.token_matches_secret("*" * 64, secret)
    assert not tokens.token_matches_secret("a" * 16, secret)
    assert not tokens.token_matches_secret("é" * 32, secret)
    assert not tokens.is_valid_secret("a" * 31)


def test_session_ids_are_long_lowercase_and_hashed_for_stores() -> None:
    ids = {tokens.new_session_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(len(i) == 32 and set(i) <= set(string.ascii_lowercase + string.digits) for i in ids)
    some = next(iter(ids))
    hashed = tokens.hash_session_id(some)
    assert len(hashed) == 64 and some not in hashed
    assert hashed == tokens.hash_session_id(some)


def test_random_strings_use_the_whole_alphabet() -> None:
    seen = set("".join(tokens.new_csrf_secret() for _ in range(300)))
    assert seen == set(ALPHABET)
    ids = set("".join(tokens.new_session_id() for _ in range(300)))
    assert ids == set(string.ascii_lowercase + string.digits)


def _plain_format(value: str) -> int:
    """The token rules written plainly, from the documented scheme."""
    if len(value) not in (tokens.CSRF_SECRET_LENGTH, tokens.CSRF_TOKEN_LENGTH):
        return tokens.TOKEN_BAD_LENGTH
    if not all(c in ALPHABET for c in value):
        return tokens.TOKEN_BAD_CHARACTERS
    return tokens.TOKEN_OK


near_tokens = st.one_of(
    st.text(max_size=70),
    st.text(alphabet=ALPHABET + "-_!é\x00 ٣", min_size=32, max_size=32),
    st.text(alphabet=ALPHABET + "-_!é\x00 ٣", min_size=64, max_size=64),
    st.text(alphabet=ALPHABET, min_size=31, max_size=65),
)


@given(near_tokens)
def test_token_format_agrees_with_the_plain_rules(value: str) -> None:
    # `token_format` inlines the alphabet check (`_in_alphabet`) on the per-request path;
    # both must say exactly what the plain rule says, non-ASCII digits included.
    assert tokens.token_format(value) == _plain_format(value)
    assert tokens.is_valid_token(value) == (_plain_format(value) == tokens.TOKEN_OK)
    assert tokens.is_valid_secret(value) == (
        len(value) == tokens.CSRF_SECRET_LENGTH and _plain_format(value) == tokens.TOKEN_OK
    )
