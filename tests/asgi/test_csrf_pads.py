"""Token pads come from a buffered CSPRNG source: never reused, never shared with a fork."""

from __future__ import annotations

import os

import pytest

from cookieguard.asgi.csrf_state import _pad_bytes, _PadBytes
from cookieguard.core.tokens import mask_secret, new_csrf_secret, token_matches_secret


def test_pads_are_never_handed_out_twice() -> None:
    source = _PadBytes()
    chunks = [source(40) for _ in range(400)]  # crosses several 4 KiB refills
    assert all(len(chunk) == 40 for chunk in chunks)
    assert len(set(chunks)) == len(chunks)
    assert len(source(10_000)) == 10_000  # larger than the buffer


def test_tokens_from_buffered_pads_differ_and_verify() -> None:
    secret = new_csrf_secret()
    tokens = {mask_secret(secret, _pad_bytes) for _ in range(500)}
    assert len(tokens) == 500
    assert all(token_matches_secret(token, secret) for token in tokens)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_forked_child_does_not_reuse_the_parents_buffer() -> None:
    _pad_bytes(40)  # the parent now holds a partly used buffer
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report its next pad bytes and leave at once
        try:
            os.write(write_end, _pad_bytes(40))
        finally:
            os._exit(0)
    os.close(write_end)
    child = os.read(read_end, 40)
    os.close(read_end)
    os.waitpid(pid, 0)
    parent = _pad_bytes(40)
    assert len(child) == 40 and child != parent
