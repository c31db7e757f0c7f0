"""The JSON codec every store uses: compact, UTF-8 (no escapes), NaN refused, fast paths.

Session values are small and mostly strings and ints, and these calls sit on every request,
so the common cases skip the generic encoder and the decoder's whitespace handling.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["decode", "dumps", "encode_value"]

dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode
_quote = json.encoder.py_encode_basestring
_c_quote = getattr(json.encoder, "c_encode_basestring", None) or _quote
_scan = json.JSONDecoder().scan_once  # type: ignore[attr-defined]  # the C scanner


def encode_value(value: Any) -> str:
    """`dumps` for one session value, about twice as fast for plain strings and ints."""
    kind = type(value)
    if kind is str:
        return _c_quote(value)
    if kind is int:
        return int.__repr__(value)
    return dumps(value)


def decode(text: str) -> Any:
    """`json.loads` for compact JSON this package wrote (no surrounding whitespace)."""
    try:
        value, end = _scan(text, 0)
    except StopIteration:
        return json.loads(text)  # raises the proper JSONDecodeError
    if end != len(text):
        return json.loads(text)
    return value
