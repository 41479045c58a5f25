"""Receiving uploads: sniffing, streamed limits and the variants field, without a server."""

import hashlib
import os
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from producer_service.errors import (
    InvalidRequest,
    PayloadTooLarge,
    StorageUnavailable,
    UnsupportedMediaType,
)
from producer_service.forms import receive_form
from producer_service.uploads import Chosen, parse_variants, probe, request_fingerprint
from tests.images import FIXTURES, LIMITS, jpeg_bytes, write

BOUNDARY = "testboundary"
HEADERS = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}


def form(*parts: tuple[str, bytes, bool]) -> bytes:
    body = b""
    for name, data, is_file in parts:
        filename = '; filename="upload.bin"' if is_file else ""
        body += (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"{filename}\r\n\r\n'
        ).encode()
        body += data + b"\r\n"
    return body + f"--{BOUNDARY}--\r\n".encode()


async def chunks(data: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


class CountingBody:
    """A request body that records how much of it was read."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.read = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self.data), 1000):
            self.read = start + 1000
            yield self.data[start : start + 1000]


async def test_a_form_is_streamed_to_a_file_with_its_fields(tmp_path: Path) -> None:
    image = jpeg_bytes(200, 100)
    body = form(("variants", b'[{"name": "a", "width": 5}]', False), ("file", image, True))
    received = await receive_form(HEADERS, chunks(body), tmp_path / "up", max_file_bytes=10**6)
    assert received.path.read_bytes() == image
    assert received.size == len(image)
    assert received.image_type == "jpeg"
    assert received.fields == {"variants": '[{"name": "a", "width": 5}]'}


async def test_an_oversized_file_is_refused_before_the_body_is_read(tmp_path: Path) -> None:
    body = CountingBody(form(("file", jpeg_bytes(16, 16) + b"\0" * 200_000, True)))
    with pytest.raises(PayloadTooLarge):
        await receive_form(HEADERS, body.__aiter__(), tmp_path / "up", max_file_bytes=50_000)
    assert body.read < 60_000
    assert not (tmp_path / "up").exists()


async def test_a_declared_length_over_the_limit_is_refused_at_once(tmp_path: Path) -> None:
    headers = {**HEADERS, "content-length": str(10**9)}
    body = CountingBody(form(("file", jpeg_bytes(16, 16), True)))
    with pytest.raises(PayloadTooLarge):
        await receive_form(headers, body.__aiter__(), tmp_path / "up", max_file_bytes=10**6)
    assert body.read == 0


async def test_a_non_image_is_refused_after_its_first_bytes(tmp_path: Path) -> None:
    body = CountingBody(form(("file", b"%PDF-1.7\n" + b"x" * 500_000, True)))
    with pytest.raises(UnsupportedMediaType):
        await receive_form(HEADERS, body.__aiter__(), tmp_path / "up", max_file_bytes=10**6)
    assert body.read < 10_000
    assert not (tmp_path / "up").exists()


async def test_a_body_that_is_not_multipart_is_unsupported(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedMediaType):
        await receive_form(
            {"content-type": "application/json"}, chunks(b"{}"), tmp_path / "up", 10**6
        )


async def test_a_form_without_a_file_part_is_invalid(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest) as caught:
        await receive_form(
            HEADERS, chunks(form(("variants", b"[]", False))), tmp_path / "up", 10**6
        )
    assert caught.value.extra["errors"][0]["loc"] == ["body", "file"]
    assert not (tmp_path / "up").exists()


async def test_two_file_parts_are_invalid(tmp_path: Path) -> None:
    image = jpeg_bytes(16, 16)
    with pytest.raises(InvalidRequest):
        await receive_form(
            HEADERS,
            chunks(form(("file", image, True), ("file", image, True))),
            tmp_path / "up",
            10**6,
        )


@pytest.mark.parametrize(
    "raw", ["not json", "{}", '[{"name": "a"}]', '[{"name": "a", "width": 9000}]', "[]"]
)
def test_bad_variants_are_invalid_with_located_errors(raw: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_variants(raw)
    assert all(error["loc"][0] == "variants" for error in caught.value.extra["errors"])


async def test_a_requested_digest_is_the_sha256_of_the_file_bytes(tmp_path: Path) -> None:
    image = jpeg_bytes()
    body = form(("file", image, True))
    hashed = await receive_form(HEADERS, chunks(body), tmp_path / "a", 10**7, digest=True)
    plain = await receive_form(HEADERS, chunks(body), tmp_path / "b", 10**7)
    assert hashed.digest == hashlib.sha256(image).digest()
    assert plain.digest is None


def test_the_request_fingerprint_follows_the_file_and_what_the_variants_mean() -> None:
    file_a, file_b = hashlib.sha256(b"a").digest(), hashlib.sha256(b"b").digest()
    terse = Chosen(parse_variants('[{"name": "t", "width": 100}]'), None)
    spelled_out = Chosen(
        parse_variants('[{"name": "t", "width": 100, "fit": "contain", "quality": 80}]'), None
    )
    other = Chosen(parse_variants('[{"name": "t", "width": 101}]'), None)
    as_preset = Chosen(terse.variants, "small")
    assert request_fingerprint(file_a, terse) == request_fingerprint(file_a, spelled_out)
    assert request_fingerprint(file_a, terse) != request_fingerprint(file_b, terse)
    assert request_fingerprint(file_a, terse) != request_fingerprint(file_a, other)
    assert request_fingerprint(file_a, terse) != request_fingerprint(file_a, as_preset)


async def test_a_disk_that_refuses_the_upload_is_storage_unavailable_and_keeps_nothing(
    tmp_path: Path,
) -> None:
    (tmp_path / "tmp").write_bytes(b"")  # a file where the uploads folder should be
    target = tmp_path / "tmp" / "upload"
    with pytest.raises(StorageUnavailable):
        await receive_form(HEADERS, chunks(form(("file", jpeg_bytes(), True))), target, 10**7)
    assert os.listdir(tmp_path) == ["tmp"]


def test_the_probe_maps_too_many_pixels_to_413_and_unreadable_to_415(tmp_path: Path) -> None:
    path = write(tmp_path / "a.jpg", jpeg_bytes(300, 200))
    with pytest.raises(PayloadTooLarge, match="60000 pixels"):
        probe(path, replace(LIMITS, input_pixels=59_999))
    with pytest.raises(PayloadTooLarge, match="3 pages or frames; the limit is 2"):
        probe(FIXTURES / "animated.gif", replace(LIMITS, input_pages=2))
    junk = write(tmp_path / "a.png", b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    with pytest.raises(UnsupportedMediaType):
        probe(junk, LIMITS)
