"""The stores' JSON fast paths agree with the standard encoder and decoder."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cookieguard.stores._json import decode, dumps, encode_value

values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(values)
def test_fast_paths_agree_with_the_json_module(value: Any) -> None:
    text = encode_value(value)
    assert text == json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    assert decode(text) == json.loads(text) == value
    assert decode(dumps({"v": value})) == {"v": value}


def test_non_finite_numbers_and_bad_text_are_refused() -> None:
    for bad in (math.nan, math.inf, [-math.inf]):
        with pytest.raises(ValueError):
            encode_value(bad)
    for text in ("", "{", '{"a":1} trailing', "[1,]"):
        with pytest.raises(json.JSONDecodeError):
            decode(text)
