"""The HTTP server the API runs in: uvicorn on httptools, with the request head bounded.

httptools reads a request line and headers of any size (a 10 MB header is buffered whole), so
the protocol counts the bytes of each request's head as they arrive and answers `431` problem+json
and closes the connection once they pass `MAX_HEAD_BYTES`: memory a stranger can pin per
connection stays bounded, and no route ever sees such a request.
"""

from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from producer_service.api.problems import problem_response

# The request line and every header together. nginx allows 4 x 8 KiB by default; a bearer
# key, an Idempotency-Key and a browser's headers are a few KiB.
MAX_HEAD_BYTES = 32 * 1024


class BoundedHeadProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, refusing a request head over `MAX_HEAD_BYTES`."""

    # Head bytes of the request being read; None once its head is complete (in the body).
    _head_bytes: int | None = 0
    # A request ended inside the chunk being read: how much of it began the next is unknown,
    # so that chunk is not counted (the bound moves by one chunk at most).
    _request_ended = False

    def data_received(self, data: bytes) -> None:
        self._request_ended = False
        super().data_received(data)
        if self._head_bytes is None or self._request_ended or self.transport.is_closing():
            return
        self._head_bytes += len(data)
        if self._head_bytes > MAX_HEAD_BYTES:
            self._refuse_head()

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
        self.transport.close()


def server_config(app: Any, host: str, port: int, **options: Any) -> uvicorn.Config:
    """How the API is served, in production and in tests alike."""
    return uvicorn.Config(
        app, host=host, port=port, http=BoundedHeadProtocol, log_config=None, **options
    )
