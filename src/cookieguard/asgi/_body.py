"""Find one form field in a request body without taking the body away from the app.

What is read is kept and replayed unchanged ahead of the rest of the stream, so the app's own
``await request.form()`` sees the very same bytes. Reading is bounded: a url-encoded body is
read whole (it is small by nature); a multipart body is parsed incrementally and reading stops
at the field, so a large file after the token streams straight to the app unbuffered.

Malformed bodies raise `UnreadableForm` (a `RequestRejected`, 400); bodies over the bound raise
it with 413. It still carries the replaying receive, for a route that turns out to be exempt.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

from cookieguard.asgi._types import Message, Receive
from cookieguard.core.csrf import MULTIPART, NOT_A_FORM, URLENCODED
from cookieguard.errors import RequestRejected

__all__ = [
    "MULTIPART",
    "NOT_A_FORM",
    "URLENCODED",
    "ClientDisconnected",
    "UnreadableForm",
    "multipart_boundary",
    "read_form_token",
]

_BAD_PERCENT = re.compile(rb"%(?![0-9A-Fa-f]{2})")
_BOUNDARY_OK = re.compile(rb"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")
_DISPOSITION_NAME = re.compile(rb'(?:^|;)\s*name\s*=\s*(?:"([^"]*)"|([^;\s]*))', re.IGNORECASE)
_DISPOSITION_FILENAME = re.compile(rb"(?:^|;)\s*filename\*?\s*=", re.IGNORECASE)


class ClientDisconnected(Exception):
    """The client went away while its body was being read: nobody is left to answer."""


class UnreadableForm(RequestRejected):
    """A `RequestRejected` that still holds the body: `receive` replays what was consumed.

    The middleware refuses such a request unless its route turns out to be exempt; an exempt
    endpoint then gets the body whole, exactly as the client sent it.
    """

    def __init__(self, cause: RequestRejected, receive: Receive) -> None:
        super().__init__(cause.reason, cause.status_code)
        self.receive = receive


def _too_large() -> RequestRejected:
    return RequestRejected("request body exceeds the size checked for the CSRF token", 413)


def _bad(reason: str) -> RequestRejected:
    return RequestRejected(f"malformed form body: {reason}", 400)


def _decode(value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise _bad("the token field is not UTF-8") from None


class _Body:
    """The bytes consumed so far and whether the client has sent its last chunk."""

    __slots__ = ("buf", "ended", "max_size", "receive")

    def __init__(self, receive: Receive, max_size: int) -> None:
        self.receive = receive
        self.max_size = max_size
        self.buf = bytearray()
        self.ended = False

    async def more(self) -> None:
        # Checked before reading, not after: a single large chunk that already holds the
        # field is fine; what is refused is reading on past the bound to look for it.
        if len(self.buf) >= self.max_size:
            raise _too_large()
        message = await self.receive()
        kind = message.get("type")
        if kind == "http.disconnect":
            raise ClientDisconnected
        if kind != "http.request":
            raise _bad(f"unexpected ASGI message {kind!r}")
        self.buf += message.get("body", b"")
        self.ended = not message.get("more_body", False)

    def replay(self) -> Receive:
        """A receive callable that first hands back what was consumed, then the live stream."""
        first: Message | None = {
            "type": "http.request",
            "body": bytes(self.buf),
            "more_body": not self.ended,
        }
        receive = self.receive

        async def replaying() -> Message:
            nonlocal first
            if first is not None:
                message, first = first, None
                return message
            return await receive()

        return replaying


async def read_form_token(
    receive: Receive,
    *,
    kind: int,
    content_type: bytes,
    field: bytes,
    max_size: int,
    content_length: int | None,
) -> tuple[str | None, Receive]:
    """Look for form field `field` in the body; return its value and the replaying receive.

    `kind`, `field` and `max_size` are what the core's `NeedToken` names.

    Raises:
        UnreadableForm: 400 for a malformed body, 413 when it is larger than `max_size`
            (for multipart: when the field is not found within `max_size` bytes); it carries
            the replaying receive all the same.
        ClientDisconnected: the client disconnected mid-body.
    """
    body = _Body(receive, max_size)
    try:
        if kind == URLENCODED:
            if content_length is not None and content_length > max_size:
                raise _too_large()
            while not body.ended:
                await body.more()
            if len(body.buf) > max_size:
                raise _too_large()
            return _urlencoded_field(bytes(body.buf), field), body.replay()
        boundary = multipart_boundary(content_type)
        value = await _MultipartScan(body, boundary, field).run()
    except RequestRejected as exc:
        raise UnreadableForm(exc, body.replay()) from None
    return value, body.replay()


def _urlencoded_field(data: bytes, field: bytes) -> str | None:
    if _BAD_PERCENT.search(data):
        raise _bad("invalid percent-encoding")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        raise _bad("not UTF-8") from None
    for pair in data.split(b"&"):
        key, _, value = pair.partition(b"=")
        if key != field:
            if b"%" not in key and b"+" not in key:
                continue
            if unquote_to_bytes(key.replace(b"+", b" ")) != field:
                continue
        return _decode(unquote_to_bytes(value.replace(b"+", b" ")))
    return None


def multipart_boundary(content_type: bytes) -> bytes:
    """The boundary parameter of a multipart Content-Type, validated (RFC 2046)."""
    for param in content_type.split(b";")[1:]:
        name, _, value = param.partition(b"=")
        if name.strip().lower() == b"boundary":
            value = value.strip()
            if len(value) >= 2 and value[:1] == value[-1:] == b'"':
                value = value[1:-1]
            if not _BOUNDARY_OK.fullmatch(value):
                raise _bad("invalid multipart boundary")
            return value
    raise _bad("multipart body without a boundary")


class _MultipartScan:
    """Incremental search for one field, parsing only as far as needed."""

    __slots__ = ("body", "delimiter", "field", "next_delimiter")

    def __init__(self, body: _Body, boundary: bytes, field: bytes) -> None:
        self.body = body
        self.delimiter = b"--" + boundary
        self.next_delimiter = b"\r\n--" + boundary
        self.field = field

    async def _find(self, needle: bytes, start: int) -> int:
        """Index of `needle` at or after `start`, reading more body as needed."""
        body = self.body
        search_from = start
        while True:
            index = body.buf.find(needle, search_from)
            if index >= 0:
                return index
            if body.ended:
                raise _bad("truncated multipart body")
            # Only the tail can hold a needle split across two chunks.
            search_from = max(start, len(body.buf) - len(needle) + 1)
            await body.more()

    async def _need(self, end: int) -> None:
        while len(self.body.buf) < end:
            if self.body.ended:
                raise _bad("truncated multipart body")
            await self.body.more()

    async def run(self) -> str | None:
        buf = self.body.buf
        pos = await self._find(self.delimiter, 0) + len(self.delimiter)
        while True:
            # After a delimiter: "--" closes the body; otherwise optional padding and CRLF.
            await self._need(pos + 2)
            if buf[pos : pos + 2] == b"--":
                return None
            while True:
                await self._need(pos + 2)
                if buf[pos : pos + 2] == b"\r\n":
                    break
                if buf[pos] not in b" \t":
                    raise _bad("garbage after a multipart boundary")
                pos += 1
            headers_end = await self._find(b"\r\n\r\n", pos)
            headers = bytes(buf[pos + 2 : headers_end])
            content_start = headers_end + 4
            content_end = await self._find(self.next_delimiter, content_start)
            if self._is_field(headers):
                return _decode(bytes(buf[content_start:content_end]))
            pos = content_end + len(self.next_delimiter)

    def _is_field(self, headers: bytes) -> bool:
        for line in headers.split(b"\r\n"):
            name, colon, value = line.partition(b":")
            if not colon:
                raise _bad("malformed multipart part header")
            if name.strip().lower() != b"content-disposition":
                continue
            if _DISPOSITION_FILENAME.search(value):
                return False  # an uploaded file is never the token
            match = _DISPOSITION_NAME.search(value)
            return match is not None and (match.group(1) or match.group(2)) == self.field
        return False
