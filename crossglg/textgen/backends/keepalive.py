"""A small HTTP/1.1 keep-alive connection pool over asyncio, for the hot loop's chat POSTs.

Why it exists: at concurrency 64 the ``openai`` client's HTTP client (httpx2 over httpcore2
and h11) costs about 1 ms of CPU a request by itself, scanning its connection pool and
stepping h11's state machine, where a chat completion needs one write and one parse
(docs/BENCHMARKS.md, "Measured": client CPU per request). This pool writes the request head and body in
one ``transport.write`` and parses the answer as it arrives, in the protocol's callback.

It speaks only what a POST to a chat endpoint needs: ``Content-Length``, chunked or
read-to-close bodies, ``Connection: close``, interim 1xx answers skipped, gzip and deflate
content codings (the two httpx2 asks for here), TLS through the SSL context the caller
passes. Everything else (proxies, redirects, credentials in the URL) stays with the
``openai`` client's own HTTP client: :class:`crossglg.textgen.backends.chat_post.ChatPoster`
decides which path a request takes and turns the errors raised here into the client's own
(docs/TEXTGEN.md, "How requests leave: the client's cost per request").

Errors: ``TimeoutError`` when ``timeout`` seconds pass before the whole answer is in (connect,
send and read together), :class:`ProtocolError` when the bytes are not an HTTP/1.x answer or
the server closes before the answer is complete, and ``OSError`` (``ssl.SSLError`` included)
from the socket. A connection is reused only after a complete, well-framed answer; one that
failed or timed out is closed, so a late answer can never be read as the next request's.
"""

from __future__ import annotations

import asyncio
import sys
import zlib
from typing import Any
from urllib.parse import urlsplit

MAX_HEAD = 64 * 1024  # a response head beyond this is no server we want to talk to
MAX_IDLE = 100  # idle connections kept, as the openai client's max_keepalive_connections


class ProtocolError(Exception):
    """The server's bytes are not a complete HTTP/1.x answer."""


class Response:
    """One answer: status, headers as sent (name, value) and the decoded body."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body


class _Connection(asyncio.Protocol):
    """One TCP (or TLS) connection; at most one request in flight on it."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[Response] | None = None
        self.eof = False
        self.reusable = True
        # the current answer's head, once parsed: status, headers, framing
        self.status = 0
        self.headers: list[tuple[str, str]] = []
        self.chunked = False
        self.length: int | None = None
        self.encoding = ""
        self.head_done = False

    # asyncio.Protocol callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._advance()

    def eof_received(self) -> bool:
        self.eof = True
        self._advance()
        return False  # let the transport close itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.reusable = False
        self._advance()

    # one exchange
    def send(self, data: bytes) -> asyncio.Future[Response]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.head_done = False
        self.transport.write(data)
        return self.waiter

    @property
    def usable(self) -> bool:
        """Idle, open and not closed by the server while it waited in the pool."""
        return (
            self.reusable and not self.eof and self.transport is not None and not self.transport.is_closing()
        )

    def close(self) -> None:
        self.reusable = False
        if self.transport is not None:
            self.transport.close()

    def _advance(self) -> None:
        waiter = self.waiter
        if waiter is None or waiter.done():
            if self.buffer or self.eof:  # bytes nobody asked for, or the server hung up: no reuse
                self.reusable = False
            return
        try:
            response = self._parse()
        except ProtocolError as err:
            self.reusable = False
            waiter.set_exception(err)
            return
        if response is not None:
            self.waiter = None
            waiter.set_result(response)
        elif self.eof:
            self.reusable = False
            waiter.set_exception(ProtocolError("the server closed the connection before a complete answer"))

    def _parse(self) -> Response | None:
        """The answer when all of it is in the buffer; None while more is expected."""
        buf = self.buffer
        while not self.head_done:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > MAX_HEAD:
                    raise ProtocolError("the response head is longer than 64 KiB")
                return None
            self._read_head(bytes(buf[:end]))
            del buf[: end + 4]
        if self.status in (204, 304):
            body, used = b"", 0
        elif self.chunked:
            framed = _dechunk(buf)
            if framed is None:
                return None
            body, used = framed
        elif self.length is not None:
            if len(buf) < self.length:
                return None
            body, used = bytes(buf[: self.length]), self.length
        else:  # no framing: the body runs until the server closes
            if not self.eof:
                return None
            body, used = bytes(buf), len(buf)
            self.reusable = False
        del buf[:used]
        if buf:
            self.reusable = False  # more than one answer to one request
        return Response(self.status, self.headers, _decode(body, self.encoding))

    def _read_head(self, raw: bytes) -> None:
        lines = raw.decode("latin-1").split("\r\n")
        version, _, rest = lines[0].partition(" ")
        code = rest[:3]
        if not version.startswith("HTTP/1.") or not (len(code) == 3 and code.isdigit()):
            raise ProtocolError(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
        status = int(code)
        headers: list[tuple[str, str]] = []
        length: str | None = None
        chunked = False
        encoding = connection = ""
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip():
                raise ProtocolError(f"malformed response header line: {line[:80]!r}")
            value = value.strip()
            headers.append((name, value))
            lower = name.lower()
            if lower == "content-length":
                if length is not None and length != value:
                    raise ProtocolError("conflicting Content-Length headers")
                length = value
            elif lower == "transfer-encoding":
                chunked = value.lower().endswith("chunked")
            elif lower == "content-encoding":
                encoding = value.lower()
            elif lower == "connection":
                connection = value.lower()
        if 100 <= status < 200:
            return  # an interim answer (100 Continue): the real head follows
        if length is not None and not chunked:
            if not length.isdigit():
                raise ProtocolError(f"invalid Content-Length: {length[:40]!r}")
            self.length = int(length)
        else:
            self.length = None
        if "close" in connection or (version == "HTTP/1.0" and "keep-alive" not in connection):
            self.reusable = False
        self.status, self.headers, self.chunked, self.encoding = status, headers, chunked, encoding
        self.head_done = True


def _dechunk(buf: bytearray) -> tuple[bytes, int] | None:
    """(body, bytes used) of a complete chunked body at the start of ``buf``; None if incomplete."""
    pos = 0
    parts: list[bytes] = []
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        size_field = bytes(buf[pos:eol]).split(b";", 1)[0].strip()
        if not size_field or size_field.strip(b"0123456789abcdefABCDEF"):
            raise ProtocolError(f"invalid chunk size: {size_field[:20]!r}")
        size = int(size_field, 16)
        start = eol + 2
        if size == 0:  # the last chunk; trailers (ignored) end with an empty line
            end = buf.find(b"\r\n\r\n", eol)
            return None if end < 0 else (b"".join(parts), end + 4)
        if len(buf) < start + size + 2:
            return None
        if buf[start + size : start + size + 2] != b"\r\n":
            raise ProtocolError("a chunk does not end where its size says")
        parts.append(bytes(buf[start : start + size]))
        pos = start + size + 2


def _decode(body: bytes, encoding: str) -> bytes:
    """Undo the content codings we asked for; others pass through as the httpx2 client does."""
    for coding in reversed([c.strip() for c in encoding.split(",") if c.strip()]):
        try:
            if coding in ("gzip", "x-gzip"):
                body = zlib.decompress(body, zlib.MAX_WBITS | 16)
            elif coding == "deflate":
                try:
                    body = zlib.decompress(body)
                except zlib.error:  # raw deflate, as some servers send it
                    body = zlib.decompress(body, -zlib.MAX_WBITS)
        except zlib.error as err:
            raise ProtocolError(f"the body is not valid {coding}: {err}") from err
    return body


def _header_text(value: str) -> bool:
    """A header name or value we can put on the wire unchanged (httpx2 would refuse the rest)."""
    return value.isascii() and value.isprintable()


def pool_target(url: str, headers: dict[str, str]) -> bool:
    """Whether :class:`KeepAlivePool` can send to ``url`` with ``headers`` as the httpx2 client would."""
    parts = urlsplit(url)
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and not (parts.username or parts.password or parts.query or parts.fragment)
        and _header_text(parts.path)
        and all(_header_text(k) and _header_text(v) and ":" not in k for k, v in headers.items())
    )


class KeepAlivePool:
    """POSTs to one URL over reused connections; the headers are fixed when it is built.

    ``headers`` are sent after ``Host``, ``Accept-Encoding`` and ``Connection`` (the headers
    httpx2 adds itself), then ``Content-Length``. Check :func:`pool_target` first.
    """

    def __init__(self, url: str, headers: dict[str, str], ssl_context: Any = None) -> None:
        parts = urlsplit(url)
        https = parts.scheme == "https"
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if https else 80)
        self.ssl = ssl_context if https else None
        host_header = parts.netloc.lower()
        if parts.port == (443 if https else 80):
            host_header = host_header.rsplit(":", 1)[0]  # httpx2 leaves a default port out
        lines = [f"POST {parts.path or '/'} HTTP/1.1", f"Host: {host_header}"]
        lines += ["Accept-Encoding: gzip, deflate", "Connection: keep-alive"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        self.head = ("\r\n".join(lines) + "\r\nContent-Length: ").encode("ascii")
        self.idle: list[_Connection] = []
        self.loop: asyncio.AbstractEventLoop | None = None  # the one the idle connections belong to
        self.closed = False

    async def post(self, body: bytes, timeout: float) -> Response:
        """The answer to one POST of ``body``; see the module's doc for the errors."""
        if sys.version_info >= (3, 11):
            async with asyncio.timeout(timeout):
                return await self._post(body)
        return await asyncio.wait_for(self._post(body), timeout)  # pragma: no cover (3.10)

    async def _post(self, body: bytes) -> Response:
        conn = await self._checkout()
        try:
            response = await conn.send(self.head + b"%d\r\n\r\n" % len(body) + body)
        except BaseException:  # a timeout or a cancel mid-answer: its late bytes must go nowhere
            conn.close()
            raise
        if conn.usable and not self.closed and len(self.idle) < MAX_IDLE:
            self.idle.append(conn)
        else:
            conn.close()
        return response

    async def _checkout(self) -> _Connection:
        loop = asyncio.get_running_loop()
        if loop is not self.loop:  # a new event loop (another asyncio.run): the old one's sockets are gone
            self.idle, self.loop = [], loop
        while self.idle:
            conn = self.idle.pop()
            if conn.usable:
                return conn
            conn.close()
        server_hostname = self.host if self.ssl is not None else None
        _, conn = await loop.create_connection(
            _Connection, self.host, self.port, ssl=self.ssl, server_hostname=server_hostname
        )
        return conn

    def close(self) -> None:
        """Close the idle connections; those in flight close when their answer is in."""
        self.closed = True
        while self.idle:
            self.idle.pop().close()
