"""The HTTP server the API runs in: uvicorn on httptools, with the request head bounded.

httptools reads a request line and headers of any size (a 10 MB header is buffered whole), so
the protocol bounds each request's head twice over, and answers `431` problem+json and closes the
connection once it passes `MAX_HEAD_BYTES`: the bytes of a head still arriving are counted read
by read (memory a stranger can pin per connection stays bounded), and a head parsed whole from
one read is counted as httptools hands over its URL and headers (no route ever sees it).
"""

from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from producer_service.api.problems import problem_response

# The request line and every header together. nginx allows 4 x 8 KiB by default; a bearer
# key, an Idempotency-Key and a browser's headers are a few KiB.
MAX_HEAD_BYTES = 32 * 1024
# How long a refused connection is still read from (and what arrives dropped) before it closes.
LINGER_SECONDS = 2.0


class HeadTooLarge(Exception):
    """Raised from a parser callback: the head parsed so far is over `MAX_HEAD_BYTES`."""


class BoundedHeadProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, refusing a request head over `MAX_HEAD_BYTES`."""

    # Head bytes of the request being read; None once its head is complete (in the body).
    _head_bytes: int | None = 0
    # A request ended inside the chunk being read: how much of it began the next is unknown,
    # so that chunk is not counted (the bound moves by one chunk at most).
    _request_ended = False

    # Bytes of the request line and headers httptools has parsed, for a head read at once.
    _parsed_head_bytes = 0

    # The 431 is sent: what still arrives is dropped until the connection closes.
    _refused = False

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        self._request_ended = False
        super().data_received(data)
        if (
            self._refused
            or self._head_bytes is None
            or self._request_ended
            or self.transport.is_closing()
        ):
            return
        self._head_bytes += len(data)
        if self._head_bytes > MAX_HEAD_BYTES:
            self._refuse_head()

    def on_message_begin(self) -> None:
        self._parsed_head_bytes = 0
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._count_parsed(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_parsed(len(name) + len(value) + 4)  # ": " and CRLF
        super().on_header(name, value)

    def _count_parsed(self, size: int) -> None:
        self._parsed_head_bytes += size
        if self._parsed_head_bytes > MAX_HEAD_BYTES:
            # httptools stops parsing, and uvicorn answers the error with send_400_response.
            raise HeadTooLarge

    def send_400_response(self, msg: str) -> None:
        if self._parsed_head_bytes > MAX_HEAD_BYTES:
            self._refuse_head()
        else:
            super().send_400_response(msg)

    def on_headers_complete(self) -> None:
        self._head_bytes = None
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._head_bytes = 0
        self._request_ended = True

    def _refuse_head(self) -> None:
        answer = problem_response(
            431,
            "headers-too-large",
            "Request Header Fields Too Large",
            f"The request line and headers are over {MAX_HEAD_BYTES} bytes.",
        )
        head = [b"HTTP/1.1 431 Request Header Fields Too Large\r\n"]
        head += [name + b": " + value + b"\r\n" for name, value in answer.raw_headers]
        head.append(b"connection: close\r\n\r\n")
        self.transport.write(b"".join(head) + answer.body)
        self._refused = True
        # Closed at once with the rest of the head still arriving, the connection would be
        # reset and the client lose the answer: end our side, read on a little, then close.
        self.transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)


def server_config(app: Any, host: str, port: int, **options: Any) -> uvicorn.Config:
    """How the API is served, in production and in tests alike."""
    return uvicorn.Config(
        app, host=host, port=port, http=BoundedHeadProtocol, log_config=None, **options
    )
