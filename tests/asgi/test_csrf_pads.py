"""Token pads come from a buffered CSPRNG source: never reused, never shared with a fork."""

from __future__ import annotations

import os
import sys
import threading
from collections import Counter

import pytest

from cookieguard.asgi._csrf_state import _next_pad, _PadSource
from cookieguard.core.tokens import (
    CSRF_ALPHABET,
    CSRF_SECRET_LENGTH,
    mask_with_pad,
    new_csrf_secret,
    sample_pad_indices,
    token_matches_secret,
)


def test_pads_are_never_handed_out_twice() -> None:
    source = _PadSource()
    pads = [source() for _ in range(400)]  # crosses several 4 KiB refills
    assert all(len(pad) == CSRF_SECRET_LENGTH for pad in pads)
    assert all(max(pad) < len(CSRF_ALPHABET) for pad in pads)
    assert len(set(pads)) == len(pads)


def test_pad_sampling_drops_the_biased_bytes() -> None:
    # 248 = 4 * 62: bytes 248..255 would favour the first 8 indices, so they are dropped.
    indices = sample_pad_indices(bytes(range(256)) * 4)
    assert len(indices) == 248 * 4
    counts = Counter(indices)
    assert set(counts) == set(range(62)) and set(counts.values()) == {16}


def test_tokens_from_buffered_pads_differ_and_verify() -> None:
    secret = new_csrf_secret()
    tokens = {mask_with_pad(secret, _next_pad()) for _ in range(500)}
    assert len(tokens) == 500
    assert all(token_matches_secret(token, secret) for token in tokens)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_forked_child_does_not_reuse_the_parents_buffer() -> None:
    _next_pad()  # the parent now holds a partly used buffer
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report its next pad and leave at once
        try:
            os.write(write_end, _next_pad())
        finally:
            os._exit(0)
    os.close(write_end)
    child = os.read(read_end, CSRF_SECRET_LENGTH)
    os.close(read_end)
    os.waitpid(pid, 0)
    parent = _next_pad()
    assert len(child) == CSRF_SECRET_LENGTH and child != parent


def test_threads_drawing_at_once_never_share_a_pad() -> None:
    source = _PadSource()
    start = threading.Barrier(8)
    drawn: list[list[bytes]] = [[] for _ in range(8)]

    def draw(into: list[bytes]) -> None:
        start.wait()
        for _ in range(1000):  # ~60 refills between the 8 threads
            into.append(source())

    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        threads = [threading.Thread(target=draw, args=(mine,)) for mine in drawn]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(previous)
    pads = [pad for mine in drawn for pad in mine]
    assert len(pads) == 8000 and len(set(pads)) == 8000
