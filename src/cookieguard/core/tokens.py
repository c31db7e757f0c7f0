"""Random identifiers and Django-compatible CSRF tokens.

Secrets and session ids are drawn here, straight from the OS; masking pads may come from a
caller's buffered source (`asgi.csrf_state`), as pads are public. The CSRF scheme is
Django's, so tokens interoperate both ways: a 32-char secret over ``a-zA-Z0-9`` (in that
order), masked per response with a fresh 32-char pad by per-character addition modulo 62
(the BREACH defence).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from collections.abc import Callable

__all__ = [
    "CSRF_ALPHABET",
    "CSRF_SECRET_LENGTH",
    "CSRF_TOKEN_LENGTH",
    "SESSION_ID_ALPHABET",
    "SESSION_ID_LENGTH",
    "hash_session_id",
    "is_valid_secret",
    "is_valid_token",
    "mask_secret",
    "mask_with_pad",
    "new_csrf_secret",
    "new_session_id",
    "sample_pad_indices",
    "token_format",
    "token_matches_secret",
    "unmask_token",
]

CSRF_ALPHABET = string.ascii_letters + string.digits
CSRF_SECRET_LENGTH = 32
CSRF_TOKEN_LENGTH = 2 * CSRF_SECRET_LENGTH
SESSION_ID_ALPHABET = string.ascii_lowercase + string.digits
SESSION_ID_LENGTH = 32

_BASE = len(CSRF_ALPHABET)  # 62
_VALID = frozenset(CSRF_ALPHABET)
# Masking works on alphabet indices held in bytes, so the per-character arithmetic runs in C
# (bytes.translate and big-integer addition) instead of a Python loop: about 1 µs per token.
_CHAR_TO_INDEX = bytes(CSRF_ALPHABET.index(chr(c)) if chr(c) in _VALID else 0 for c in range(256))
_INDEX_TO_CHAR = bytes(ord(CSRF_ALPHABET[i % _BASE]) for i in range(256))  # also reduces mod 62
_NEGATE = bytes((_BASE - i) % 256 for i in range(256))  # i -> 62 - i, so c - p == c + (62 - p)


def _add_bytes(a: bytes, b: bytes) -> bytes:
    """Bytewise a + b for 32 bytes of values below 128: as one big-integer addition.

    Every byte sum stays below 256, so no carry crosses a byte boundary.
    """
    # Big-endian is the default of both (Python 3.11+): no byte-order argument to parse.
    return (int.from_bytes(a) + int.from_bytes(b)).to_bytes(CSRF_SECRET_LENGTH)


def _sampling_tables(size: int) -> tuple[bytes, bytes]:
    """Byte -> index table and the bytes to drop, for uniform rejection sampling mod `size`."""
    limit = 256 - (256 % size)
    return bytes(b % size if b < limit else 0 for b in range(256)), bytes(range(limit, 256))


_SAMPLING = {size: _sampling_tables(size) for size in (_BASE, len(SESSION_ID_ALPHABET))}


def _random_indices(
    size: int, length: int, random_bytes: Callable[[int], bytes] = secrets.token_bytes
) -> bytes:
    """`length` uniform indices in range(size), as bytes, from secure random bytes.

    Bytes at or above the largest multiple of `size` are dropped, so no index is favoured.
    """
    table, rejected = _SAMPLING.get(size) or _sampling_tables(size)
    out = b""
    while len(out) < length:
        out += random_bytes(length + 8).translate(table, rejected)
    return out[:length]


_SPELLING = {
    alphabet: bytes(ord(alphabet[i % len(alphabet)]) for i in range(256))
    for alphabet in (CSRF_ALPHABET, SESSION_ID_ALPHABET)
}


def _random_string(alphabet: str, length: int) -> str:
    """Uniform random string from `alphabet` (much cheaper than `secrets.choice` per char).

    The indices become characters in one `bytes.translate` (ASCII alphabets only).
    """
    indices = _random_indices(len(alphabet), length)
    spelling = _SPELLING.get(alphabet)
    if spelling is None:
        return "".join([alphabet[i] for i in indices])
    return indices.translate(spelling).decode("ascii")


_CSRF_TABLE, _CSRF_REJECTED = _SAMPLING[_BASE]
_CSRF_SPELLING = _SPELLING[CSRF_ALPHABET]


def new_csrf_secret() -> str:
    """A fresh 32-char CSRF secret (about 190 bits)."""
    # `_random_string` inlined: every first visit draws one. 40 bytes leave fewer than 32
    # indices about once in 100,000 draws; the general path then tops them up.
    indices = secrets.token_bytes(40).translate(_CSRF_TABLE, _CSRF_REJECTED)
    if len(indices) < CSRF_SECRET_LENGTH:
        indices = _random_indices(_BASE, CSRF_SECRET_LENGTH)
    return indices[:CSRF_SECRET_LENGTH].translate(_CSRF_SPELLING).decode("ascii")


def new_session_id() -> str:
    """A fresh 32-char session id over ``a-z0-9`` (about 165 bits), as Django draws them."""
    return _random_string(SESSION_ID_ALPHABET, SESSION_ID_LENGTH)


def hash_session_id(session_id: str) -> str:
    """The only form of a session id a store ever sees: hex SHA-256.

    A leaked table or a lookup-timing side channel then yields nothing that can be replayed
    as a cookie (the Rack CVE-2019-16782 remedy).
    """
    return hashlib.sha256(session_id.encode("ascii", "replace")).hexdigest()


TOKEN_OK, TOKEN_BAD_LENGTH, TOKEN_BAD_CHARACTERS = 0, 1, 2
"""What `token_format` finds: a usable token, or the first rule it breaks (Django's order)."""


def _in_alphabet(value: str) -> bool:
    # isascii() + isalnum() is exactly [a-zA-Z0-9], checked in C; on bytes, isalnum() is a
    # table lookup per character, several times cheaper than str's Unicode-aware one.
    return value.isascii() and value.encode("ascii").isalnum()


def token_format(value: str) -> int:
    """`TOKEN_OK` for a 32-char bare or 64-char masked token over the CSRF alphabet.

    Otherwise `TOKEN_BAD_LENGTH` or `TOKEN_BAD_CHARACTERS`, length first as Django checks
    it: these are the only format rules for tokens and stored secrets, and every caller
    (the CSRF decision, the cookie reader, `token_matches_secret`) asks here.
    """
    size = len(value)
    if size != CSRF_TOKEN_LENGTH and size != CSRF_SECRET_LENGTH:
        return TOKEN_BAD_LENGTH
    # `_in_alphabet`, inlined: every unsafe request checks its token here.
    if value.isascii() and value.encode("ascii").isalnum():
        return TOKEN_OK
    return TOKEN_BAD_CHARACTERS


def is_valid_secret(value: str) -> bool:
    """True for a well-formed 32-char bare secret."""
    return len(value) == CSRF_SECRET_LENGTH and _in_alphabet(value)


def is_valid_token(value: str) -> bool:
    """True for a 32-char bare or 64-char masked token over the CSRF alphabet."""
    return token_format(value) == TOKEN_OK


def sample_pad_indices(random_bytes: bytes) -> bytes:
    """Uniform pad indices (each below 62) from secure random bytes; about 3% are dropped.

    For callers that buffer pads: sample a large block once, then hand out
    `CSRF_SECRET_LENGTH` indices per token to `mask_with_pad`.
    """
    table, rejected = _SAMPLING[_BASE]
    return random_bytes.translate(table, rejected)


def mask_with_pad(secret: str, pad: bytes) -> str:
    """The token for `secret` under `pad` (32 uniform indices below 62, never reused)."""
    plain = secret.encode("ascii").translate(_CHAR_TO_INDEX)
    # `_add_bytes(pad, plain)`, inlined (one token per page); big-endian is the default.
    total = int.from_bytes(pad) + int.from_bytes(plain)
    return (pad + total.to_bytes(CSRF_SECRET_LENGTH)).translate(_INDEX_TO_CHAR).decode("ascii")


def mask_secret(secret: str, random_bytes: Callable[[int], bytes] = secrets.token_bytes) -> str:
    """Mask `secret` with a fresh pad: a different 64-char token on every call.

    Args:
        secret: the 32-char secret.
        random_bytes: where the pad's randomness comes from (n -> n secure random bytes).
            The pad is the token's visible first half, so a buffered CSPRNG source is fine.
    """
    return mask_with_pad(secret, _random_indices(_BASE, CSRF_SECRET_LENGTH, random_bytes))


def unmask_token(token: str) -> str:
    """Recover the secret from a 64-char masked token (caller checks the format first)."""
    raw = token.encode("ascii").translate(_CHAR_TO_INDEX)
    negated_pad = raw[:CSRF_SECRET_LENGTH].translate(_NEGATE)
    plain = _add_bytes(raw[CSRF_SECRET_LENGTH:], negated_pad)
    return plain.translate(_INDEX_TO_CHAR).decode("ascii")


def token_matches_secret(token: str, secret: str) -> bool:
    """Constant-time check that a bare or masked `token` carries `secret`.

    Malformed input is simply a mismatch; callers that need a reason check the format first.
    """
    if not is_valid_token(token) or not is_valid_secret(secret):
        return False
    candidate = unmask_token(token) if len(token) == CSRF_TOKEN_LENGTH else token
    return hmac.compare_digest(candidate.encode("ascii"), secret.encode("ascii"))
