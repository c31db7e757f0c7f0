"""`find_cookie` (the per-request fast path) agrees with the full Cookie header parser."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from cookieguard.core.cookies import MAX_COOKIE_HEADER, find_cookie, parse_cookie_header

# Names browsers send (token characters); values may hold anything but ";" and controls.
# U+0085 and U+00A0 are left out: the full parser strips them as Unicode blanks after
# decoding, the fast path strips ASCII blanks only (browsers send neither around a value).
_names = st.sampled_from(["sessionid", "csrftoken", "session", "csrf", "x", "sessionid2"])
_values = st.text(
    alphabet=st.characters(
        min_codepoint=0x20, max_codepoint=0xFF, blacklist_characters="\x7f\x85\xa0"
    ),
    max_size=40,
)
_blanks = st.sampled_from(["", " ", "  ", "\t", " \t"])


@st.composite
def cookie_headers(draw: st.DrawFn) -> bytes:
    pairs = draw(st.lists(st.tuples(_blanks, _names, _values, _blanks), max_size=6))
    parts = [f"{lead}{name}={value.replace(';', '')}{trail}" for lead, name, value, trail in pairs]
    return ";".join(parts).encode("latin-1")


@settings(max_examples=400)
@given(header=cookie_headers(), name=_names)
def test_find_cookie_matches_the_full_parser(header: bytes, name: str) -> None:
    expected = parse_cookie_header(header).get(name)
    assert find_cookie([(b"host", b"x"), (b"cookie", header)], f"{name}=".encode()) == expected


def test_first_occurrence_wins_and_suffixes_do_not_match() -> None:
    header = b"xsessionid=evil; sessionid2=no; sessionid=real; sessionid=planted"
    assert find_cookie([(b"cookie", header)], b"sessionid=") == "real"


def test_quoted_values_are_unquoted_and_blanks_stripped() -> None:
    assert find_cookie([(b"cookie", b'a=1;  csrftoken = x; csrftoken="abc" ')], b"csrftoken=") == (
        "abc"
    )


def test_later_cookie_headers_are_searched_and_oversized_ones_ignored() -> None:
    huge = b"sessionid=big; pad=" + b"x" * MAX_COOKIE_HEADER
    headers = [(b"cookie", b"a=1"), (b"cookie", huge), (b"cookie", b"sessionid=second")]
    assert find_cookie(headers, b"sessionid=") == "second"
    assert find_cookie([(b"cookie", b"a=1")], b"sessionid=") is None
