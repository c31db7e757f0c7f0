"""The form token from ``wsgi.input``, found by the ASGI driver's own parser, then replayed.

`cookieguard.asgi._body.read_form_token` does the bounded, incremental search (url-encoded
read whole, multipart only up to the field). Here it reads through a receive callable over
``wsgi.input`` and runs inline (`cookieguard._inline`): one parser for both front doors.
Whatever was consumed is put back: ``environ["wsgi.input"]`` becomes a stream that yields the
consumed bytes and then the rest of the original body, so the app (``request.form``) reads
the very bytes the client sent. Reads never go past ``CONTENT_LENGTH`` (PEP 3333).
"""

from __future__ import annotations

import io
from typing import Any

from cookieguard._inline import run_inline
from cookieguard.asgi._body import ClientDisconnected, UnreadableForm, read_form_token
from cookieguard.asgi._types import Message, Receive
from cookieguard.errors import RequestRejected

__all__ = ["ReplayInput", "form_token"]

_CHUNK = 65536


class _Source:
    """The original ``wsgi.input``, bounded by the request's length."""

    __slots__ = ("remaining", "stream")

    def __init__(self, stream: Any, remaining: int | None) -> None:
        self.stream = stream
        self.remaining = remaining  # None: read to EOF (wsgi.input_terminated)

    def read(self, size: int) -> bytes:
        if self.remaining is not None:
            size = min(size, self.remaining)
            if size <= 0:
                return b""
        try:
            data: bytes = self.stream.read(size)
        except (OSError, ValueError) as exc:
            raise ClientDisconnected from exc
        if self.remaining is not None:
            if not data:  # the client sent less than it announced
                raise ClientDisconnected
            self.remaining -= len(data)
        return data

    def ended(self, last: bytes) -> bool:
        return self.remaining == 0 if self.remaining is not None else not last


class ReplayInput(io.RawIOBase):
    """``wsgi.input`` after the token search: the consumed bytes first, then the rest."""

    def __init__(self, consumed: bytes, source: _Source) -> None:
        self._consumed = io.BytesIO(consumed)
        self._source = source

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._consumed.read(len(buffer))
        if not data:
            try:
                data = self._source.read(len(buffer))
            except ClientDisconnected:
                data = b""
        buffer[: len(data)] = data
        return len(data)


async def _first(replay: Receive) -> Message:
    return await replay()


def _length(environ: dict[str, Any]) -> int | None:
    raw = environ.get("CONTENT_LENGTH")
    if raw:
        try:
            return max(0, int(raw))
        except ValueError:
            return 0
    return None if environ.get("wsgi.input_terminated") else 0


def form_token(environ: dict[str, Any], *, kind: int, field: bytes, max_size: int) -> str | None:
    """Form field `field` of the request body (None if absent), as the core's `NeedToken`
    asked; ``environ["wsgi.input"]`` is replaced by a `ReplayInput` in every case.

    Raises:
        RequestRejected: 400 for a malformed or unreadable body, 413 past `max_size`.
    """
    length = _length(environ)
    source = _Source(environ["wsgi.input"], length)

    async def receive() -> Message:
        chunk = source.read(_CHUNK)
        return {"type": "http.request", "body": chunk, "more_body": not source.ended(chunk)}

    content_type = str(environ.get("CONTENT_TYPE", "")).encode("latin-1")
    replay = None
    try:
        token, replay = run_inline(
            read_form_token(
                receive,
                kind=kind,
                content_type=content_type,
                field=field,
                max_size=max_size,
                content_length=length,
            )
        )
    except UnreadableForm as exc:
        replay = exc.receive
        raise
    except ClientDisconnected:
        raise RequestRejected("the request body could not be read", 400) from None
    finally:
        consumed = b""
        if replay is not None:
            first = run_inline(_first(replay))
            consumed = bytes(first.get("body", b""))
        environ["wsgi.input"] = io.BufferedReader(ReplayInput(consumed, source), _CHUNK)
    return token
