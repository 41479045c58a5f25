"""Receiving a multipart form as it streams in: the file part to disk, text fields in memory.

The body is parsed as it arrives, so an oversized or non-image upload is refused after its
first bytes instead of after the whole of it has been spooled to disk.
"""

import asyncio
import hashlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from producer_service.errors import InvalidRequest, PayloadTooLarge, UnsupportedMediaType
from producer_service.staging import storage_errors
from shared.images import SNIFF_BYTES, sniff
from shared.variants import SourceFormat

FILE_FIELD = "file"
# Instead of `file`: where the worker fetches the image from (`source_urls`).
SOURCE_URL_FIELD = "source_url"
# The text fields a submit reads (see `uploads`); any other part is 422 naming it, so a new
# field is one more name here.
TEXT_FIELDS = frozenset({"variants", "preset", "callback_url", SOURCE_URL_FIELD, "priority"})
FORM_FIELDS = TEXT_FIELDS | {FILE_FIELD}
MAX_FIELD_BYTES = 64 * 1024
# What the whole body may hold on top of MAX_UPLOAD_BYTES: the multipart framing, each part's
# headers, the text fields, and anything before the first boundary or after the last.
FORM_OVERHEAD_BYTES = 256 * 1024
# A form has a part per field; a few unknown ones more are read, to name them all in the 422.
MAX_PARTS = 16
MAX_PART_HEAD_BYTES = 8 * 1024
# How much of a name the client sent is quoted back.
_QUOTED = 64
_FLUSH_BYTES = 1024 * 1024


@dataclass
class ReceivedForm:
    """What the form held: the file written to `path`, and the text fields."""

    path: Path
    size: int = 0
    image_type: SourceFormat | None = None
    fields: dict[str, str] = field(default_factory=dict)
    # SHA-256 of the file's bytes, when asked for (an idempotent submit compares them).
    digest: bytes | None = None


def upload_too_large(max_file_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The upload is larger than {max_file_bytes} bytes.")


def _quoted(name: str) -> str:
    return f"`{name[:_QUOTED]}`" if name else "a part with no name"


class _FormCollector:
    """python-multipart callbacks: route each part's bytes while the body streams in.

    What it keeps is bounded whatever the body holds: the whole body is counted against the
    limit, parts are counted, and of an unknown part only its name (cut short) is kept."""

    def __init__(self, max_file_bytes: int) -> None:
        self.max_file_bytes = max_file_bytes
        self.max_body_bytes = max_file_bytes + FORM_OVERHEAD_BYTES
        self.body_bytes = 0
        self.pending: list[bytes] = []
        self.pending_size = 0
        self.file_size = 0
        self.file_parts = 0
        self.head = b""
        self.image_type: SourceFormat | None = None
        self.fields: dict[str, bytearray] = {}
        # Names of parts that are no field of a submit, and whether each carried a file
        # (`-F image=@photo.jpg`); at most MAX_PARTS of them.
        self.unknown: dict[str, bool] = {}
        self.parts = 0
        self._head_bytes = 0
        self._header_name = b""
        self._header_value = b""
        self._disposition = b""
        self._field: bytearray | None = None
        self._in_file = False
        # The `file` part came without a filename: curl's `-F file=photo.jpg`, a text field.
        self._file_is_text = False

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value_data,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }

    def count_body(self, size: int) -> None:
        """Every byte of the body, framing included, however it is sent."""
        self.body_bytes += size
        if self.body_bytes > self.max_body_bytes:
            raise upload_too_large(self.max_file_bytes)

    def _part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise PayloadTooLarge(
                f"The form has more than {MAX_PARTS} parts; a submit sends one per field."
            )
        self._head_bytes = 0
        self._disposition = b""
        self._field = None
        self._in_file = False

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += self._head_data(data, start, end)

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value += self._head_data(data, start, end)

    def _head_data(self, data: bytes, start: int, end: int) -> bytes:
        self._head_bytes += end - start
        if self._head_bytes > MAX_PART_HEAD_BYTES:
            raise PayloadTooLarge(f"A form part's headers are over {MAX_PART_HEAD_BYTES} bytes.")
        return data[start:end]

    def _header_end(self) -> None:
        if self._header_name.lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_name = self._header_value = b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        name = options.get(b"name", b"").decode("utf-8", "replace")
        if name == FILE_FIELD:
            self.file_parts += 1
            if self.file_parts > 1:
                raise _once_error(FILE_FIELD)
            self._in_file = True
            self._file_is_text = b"filename" not in options
        elif name in TEXT_FIELDS:
            if name in self.fields:
                raise _once_error(name)
            self._field = self.fields[name] = bytearray()
        else:
            name = name[:_QUOTED]
            self.unknown[name] = self.unknown.get(name, False) or b"filename" in options

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self._in_file:
            self._file_data(chunk)
        elif self._field is not None:
            self._field += chunk
            if len(self._field) > MAX_FIELD_BYTES:
                raise PayloadTooLarge(f"A form field is larger than {MAX_FIELD_BYTES} bytes.")
        # An unknown part's bytes are dropped; the body count bounds how many there are.

    def _file_data(self, chunk: bytes) -> None:
        self.file_size += len(chunk)
        if self.file_size > self.max_file_bytes:
            raise upload_too_large(self.max_file_bytes)
        if self.image_type is None:
            self.head += chunk[: SNIFF_BYTES - len(self.head)]
            if len(self.head) >= SNIFF_BYTES:
                self._sniff()
        self.pending.append(chunk)
        self.pending_size += len(chunk)

    def _part_end(self) -> None:
        if self._in_file and self.image_type is None:
            self._sniff()
        self._in_file = False

    def _sniff(self) -> None:
        self.image_type = sniff(self.head)
        if self.image_type is not None:
            return
        if self._file_is_text:
            text = self.head[:_QUOTED].decode("utf-8", "replace")
            message = (
                f"The `file` part is a text field ({text!r}), not a file: send the image's "
                "bytes with a filename; with curl, `-F file=@photo.jpg` (with the `@`)."
            )
            raise InvalidRequest(
                message,
                errors=[{"loc": ["body", FILE_FIELD], "msg": message, "type": "not_a_file"}],
            )
        raise UnsupportedMediaType(
            "The file is not an image this service reads "
            "(JPEG, PNG, WebP, GIF, TIFF, HEIF/AVIF); its bytes were checked, not its name."
        )

    def take_pending(self) -> bytes:
        data = b"".join(self.pending)
        self.pending.clear()
        self.pending_size = 0
        return data

    def check_complete(self) -> None:
        """Once the body has ended: no unknown part, and a `file` part or a `source_url`."""
        if self.unknown:
            raise _unknown_fields_error(self.unknown, self.file_parts > 0)
        has_url = bool(self.fields.get(SOURCE_URL_FIELD, b"").strip())
        if self.file_parts > 0 and has_url:
            message = "Send the image in `file` or its address in `source_url`, not both."
            raise InvalidRequest(
                message,
                errors=[{"loc": ["body", SOURCE_URL_FIELD], "msg": message, "type": "conflict"}],
            )
        if self.file_parts == 0 and not has_url:
            raise InvalidRequest(
                "Send the image in a form part named `file`, or its address in `source_url`.",
                errors=[{"loc": ["body", FILE_FIELD], "msg": "Field required", "type": "missing"}],
            )


def _once_error(name: str) -> InvalidRequest:
    message = f"Send `{name}` once; this form sent it more than once."
    return InvalidRequest(
        message, errors=[{"loc": ["body", name], "msg": message, "type": "duplicate"}]
    )


def _unknown_fields_error(unknown: Mapping[str, bool], has_file: bool) -> InvalidRequest:
    names = ", ".join(_quoted(name) for name in unknown)
    takes = ", ".join(f"`{name}`" for name in [FILE_FIELD, *sorted(TEXT_FIELDS)])
    detail = f"This form has parts a submit does not take: {names}. A submit takes {takes}."
    files = [name for name, is_file in unknown.items() if is_file]
    if files and not has_file:
        sent = ", ".join(_quoted(name) for name in files)
        detail = f"Send the image in a form part named `file`; this form sent a file in {sent}. "
        detail += f"A submit takes {takes}."
    errors = [
        {"loc": ["body", name], "msg": "Not a field of a submit", "type": "extra_forbidden"}
        for name in unknown
    ]
    if not has_file:
        errors.append({"loc": ["body", FILE_FIELD], "msg": "Field required", "type": "missing"})
    return InvalidRequest(detail, errors=errors)


def multipart_boundary(headers: Mapping[str, str]) -> bytes:
    content_type, options = parse_options_header(headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise UnsupportedMediaType(
            "Send multipart/form-data with the image in a `file` part and optional JSON `variants`."
        )
    return boundary


def check_declared_length(headers: Mapping[str, str], max_file_bytes: int) -> None:
    """Refuse at once a body whose Content-Length alone says it is too large."""
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_file_bytes + FORM_OVERHEAD_BYTES:
        raise upload_too_large(max_file_bytes)


async def receive_form(
    headers: Mapping[str, str],
    body: AsyncIterator[bytes],
    path: Path,
    max_file_bytes: int,
    *,
    digest: bool = False,
) -> ReceivedForm:
    """Stream a multipart body; the file goes to `path` (its owner removes it, whatever
    happens: `submissions.received_submission`)."""
    boundary = multipart_boundary(headers)
    check_declared_length(headers, max_file_bytes)
    collector = _FormCollector(max_file_bytes)
    hasher = hashlib.sha256() if digest else None
    try:
        # Built in here: a boundary python-multipart refuses (over 256 bytes) is malformed too.
        parser = MultipartParser(boundary, collector.callbacks())  # type: ignore[arg-type]
        await _stream_to_file(parser, collector, body, _FileSink(path, hasher))
        collector.check_complete()
    except FormParserError as exc:
        raise InvalidRequest(f"The multipart body is malformed: {exc}") from exc
    fields = {name: value.decode("utf-8", "replace") for name, value in collector.fields.items()}
    return ReceivedForm(
        path,
        collector.file_size,
        collector.image_type,
        fields,
        None if hasher is None else hasher.digest(),
    )


class _FileSink:
    """Where the file part's bytes go: a file (and a hash), written from a thread."""

    def __init__(self, path: Path, hasher: "hashlib._Hash | None") -> None:
        self._path = path
        self._hasher = hasher
        self._handle: BinaryIO | None = None

    def open(self) -> None:
        with storage_errors():
            self._handle = self._path.open("wb")

    def write(self, data: bytes) -> None:
        assert self._handle is not None
        with storage_errors():
            self._handle.write(data)
        if self._hasher is not None:
            self._hasher.update(data)

    def close(self) -> None:
        if self._handle is not None:
            with storage_errors():
                self._handle.close()


async def _stream_to_file(
    parser: MultipartParser, collector: _FormCollector, body: AsyncIterator[bytes], sink: _FileSink
) -> None:
    await asyncio.to_thread(sink.open)
    try:
        async for chunk in body:
            collector.count_body(len(chunk))
            parser.write(chunk)
            if collector.pending_size >= _FLUSH_BYTES:
                await asyncio.to_thread(sink.write, collector.take_pending())
        parser.finalize()
        await asyncio.to_thread(sink.write, collector.take_pending())
    finally:
        await asyncio.to_thread(sink.close)
