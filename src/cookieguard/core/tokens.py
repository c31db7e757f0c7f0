"""Random identifiers and Django-compatible CSRF tokens.

Only this module draws randomness for cookieguard. The CSRF scheme is Django's, so tokens
interoperate both ways: a 32-char secret over ``a-zA-Z0-9`` (in that order), masked per
response with a fresh 32-char pad by per-character addition modulo 62 (the BREACH defence).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string

CSRF_ALPHABET = string.ascii_letters + string.digits
CSRF_SECRET_LENGTH = 32
CSRF_TOKEN_LENGTH = 2 * CSRF_SECRET_LENGTH
SESSION_ID_ALPHABET = string.ascii_lowercase + string.digits
SESSION_ID_LENGTH = 32

_BASE = len(CSRF_ALPHABET)  # 62
_INDEX = {char: i for i, char in enumerate(CSRF_ALPHABET)}
_VALID = frozenset(CSRF_ALPHABET)
# (pad char, secret char) -> cipher char, and (pad char, cipher char) -> secret char.
_ADD = {(p, s): CSRF_ALPHABET[(_INDEX[p] + _INDEX[s]) % _BASE] for p in _INDEX for s in _INDEX}
_SUB = {(p, c): CSRF_ALPHABET[(_INDEX[c] - _INDEX[p]) % _BASE] for p in _INDEX for c in _INDEX}


def _random_string(alphabet: str, length: int) -> str:
    """Uniform random string from `alphabet` via rejection sampling of secure random bytes.

    Much cheaper than `secrets.choice` per character, with the same distribution.
    """
    size = len(alphabet)
    limit = 256 - (256 % size)
    out: list[str] = []
    while len(out) < length:
        for byte in secrets.token_bytes(length + 8):
            if byte < limit:
                out.append(alphabet[byte % size])
                if len(out) == length:
                    break
    return "".join(out)


def new_csrf_secret() -> str:
    """A fresh 32-char CSRF secret (about 190 bits)."""
    return _random_string(CSRF_ALPHABET, CSRF_SECRET_LENGTH)


def new_session_id() -> str:
    """A fresh 32-char session id over ``a-z0-9`` (about 165 bits), as Django draws them."""
    return _random_string(SESSION_ID_ALPHABET, SESSION_ID_LENGTH)


def hash_session_id(session_id: str) -> str:
    """The only form of a session id a store ever sees: hex SHA-256.

    A leaked table or a lookup-timing side channel then yields nothing that can be replayed
    as a cookie (the Rack CVE-2019-16782 remedy).
    """
    return hashlib.sha256(session_id.encode("ascii", "replace")).hexdigest()


def is_valid_secret(value: str) -> bool:
    """True for a well-formed 32-char bare secret."""
    return len(value) == CSRF_SECRET_LENGTH and _VALID.issuperset(value)


def is_valid_token(value: str) -> bool:
    """True for a 32-char bare or 64-char masked token over the CSRF alphabet."""
    return len(value) in (CSRF_SECRET_LENGTH, CSRF_TOKEN_LENGTH) and _VALID.issuperset(value)


def mask_secret(secret: str) -> str:
    """Mask `secret` with a fresh pad: a different 64-char token on every call."""
    pad = _random_string(CSRF_ALPHABET, CSRF_SECRET_LENGTH)
    add = _ADD
    return pad + "".join([add[pair] for pair in zip(pad, secret, strict=True)])


def unmask_token(token: str) -> str:
    """Recover the secret from a 64-char masked token (caller checks the format first)."""
    sub = _SUB
    pad, cipher = token[:CSRF_SECRET_LENGTH], token[CSRF_SECRET_LENGTH:]
    return "".join([sub[pair] for pair in zip(pad, cipher, strict=True)])


def token_matches_secret(token: str, secret: str) -> bool:
    """Constant-time check that a bare or masked `token` carries `secret`.

    Malformed input is simply a mismatch; callers that need a reason check the format first.
    """
    if not is_valid_token(token) or not is_valid_secret(secret):
        return False
    candidate = unmask_token(token) if len(token) == CSRF_TOKEN_LENGTH else token
    return hmac.compare_digest(candidate.encode("ascii"), secret.encode("ascii"))
