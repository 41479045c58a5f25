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
from producer_service.forms import (
    FORM_OVERHEAD_BYTES,
    MAX_PARTS,
    TEXT_FIELDS,
    receive_form,
)
from producer_service.presets import Presets
from producer_service.staging import UploadArea
from producer_service.submissions import (
    Chosen,
    parse_variants,
    probe,
    received_submission,
    request_fingerprint,
)
from tests.images import FIXTURES, LIMITS, jpeg_bytes, write
from tests.support import make_settings

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


async def submit_form(
    headers: dict[str, str], body: AsyncIterator[bytes], tmp_path: Path, limit: int
) -> None:
    """The body received as the API receives a submit: by the submission that owns the
    upload's temp file."""
    settings = make_settings(tmp_path, max_upload_bytes=limit)
    uploads = UploadArea(settings.data_dir)
    uploads.prepare()
    async with received_submission(headers, body, uploads, settings, Presets.of(settings)):
        pass


def staged(tmp_path: Path) -> list[Path]:
    """What is left where uploads are received."""
    return list(UploadArea(make_settings(tmp_path).data_dir).folder.iterdir())


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
        await submit_form(HEADERS, body.__aiter__(), tmp_path, 50_000)
    assert body.read < 60_000
    assert staged(tmp_path) == []


async def test_a_declared_length_over_the_limit_is_refused_at_once(tmp_path: Path) -> None:
    headers = {**HEADERS, "content-length": str(10**9)}
    body = CountingBody(form(("file", jpeg_bytes(16, 16), True)))
    with pytest.raises(PayloadTooLarge):
        await receive_form(headers, body.__aiter__(), tmp_path / "up", max_file_bytes=10**6)
    assert body.read == 0


async def test_a_non_image_is_refused_after_its_first_bytes(tmp_path: Path) -> None:
    body = CountingBody(form(("file", b"%PDF-1.7\n" + b"x" * 500_000, True)))
    with pytest.raises(UnsupportedMediaType):
        await submit_form(HEADERS, body.__aiter__(), tmp_path, 10**6)
    assert body.read < 10_000
    assert staged(tmp_path) == []


async def test_a_body_that_is_not_multipart_is_unsupported(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedMediaType):
        await receive_form(
            {"content-type": "application/json"}, chunks(b"{}"), tmp_path / "up", 10**6
        )


async def test_a_form_without_a_file_part_is_invalid(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest) as caught:
        await submit_form(HEADERS, chunks(form(("variants", b"[]", False))), tmp_path, 10**6)
    assert caught.value.extra["errors"][0]["loc"] == ["body", "file"]
    assert staged(tmp_path) == []


async def test_two_file_parts_are_invalid(tmp_path: Path) -> None:
    image = jpeg_bytes(16, 16)
    with pytest.raises(InvalidRequest):
        await receive_form(
            HEADERS,
            chunks(form(("file", image, True), ("file", image, True))),
            tmp_path / "up",
            10**6,
        )


def part(name: str, data: bytes, extra: str = "") -> bytes:
    """One part, framed as `form` frames them; `extra` is appended to its disposition."""
    disposition = f'Content-Disposition: form-data; name="{name}"{extra}'
    return f"--{BOUNDARY}\r\n{disposition}\r\n\r\n".encode() + data + b"\r\n"


CLOSE = f"--{BOUNDARY}--\r\n".encode()
LIMIT = 50_000
OVER = LIMIT + FORM_OVERHEAD_BYTES


@pytest.mark.parametrize(
    ("body", "refusal"),
    [
        (form(("file", jpeg_bytes(16, 16), True)) + b"x" * OVER, PayloadTooLarge),
        (form(("file", jpeg_bytes(16, 16), True), ("other", b"x" * OVER, False)), PayloadTooLarge),
        (
            part("file", jpeg_bytes(16, 16), '; filename="a.jpg"' + f"\r\nX-Pad: {'y' * 2000}" * 6)
            + CLOSE,
            PayloadTooLarge,
        ),
        # python-multipart takes no text before the first boundary.
        (b"x" * OVER + form(("file", jpeg_bytes(16, 16), True)), InvalidRequest),
    ],
    ids=["after-the-closing-boundary", "in-an-unknown-part", "part-headers", "before-the-first"],
)
async def test_every_byte_of_the_body_counts_against_the_limit(
    tmp_path: Path, body: bytes, refusal: type[Exception]
) -> None:
    """Not the file part alone: what surrounds it is bounded too, sent without a length."""
    with pytest.raises(refusal):
        await submit_form(HEADERS, chunks(body, 64 * 1024), tmp_path, LIMIT)
    assert staged(tmp_path) == []


async def test_a_form_of_many_small_parts_is_refused_after_the_first_few(tmp_path: Path) -> None:
    """Files under other names than `file`, each tiny: a few are read (to name them in the
    422), and the rest of the body is not."""
    many = b"".join(part(f"f{n}", b"x", f'; filename="{n}.jpg"') for n in range(100_000))
    body = CountingBody(many + CLOSE)
    with pytest.raises(PayloadTooLarge, match=f"more than {MAX_PARTS} parts"):
        await receive_form(HEADERS, body.__aiter__(), tmp_path / "up", len(body.data))
    assert body.read < 10_000


async def test_a_boundary_the_parser_refuses_is_422_not_a_crash(tmp_path: Path) -> None:
    headers = {"content-type": f"multipart/form-data; boundary={'b' * 300}"}
    with pytest.raises(InvalidRequest, match="malformed"):
        await submit_form(headers, chunks(b"--" + b"b" * 300), tmp_path, 10**6)
    assert staged(tmp_path) == []


@pytest.mark.parametrize("name", sorted(TEXT_FIELDS))
async def test_a_text_field_sent_twice_is_422_naming_it(tmp_path: Path, name: str) -> None:
    """Two halves are not joined into one value."""
    body = form(("file", jpeg_bytes(16, 16), True), (name, b'[{"name": "a",', False))
    body = body.replace(CLOSE, part(name, b' "width": 5}]') + CLOSE)
    with pytest.raises(InvalidRequest) as caught:
        await receive_form(HEADERS, chunks(body), tmp_path / "up", 10**6)
    assert f"`{name}`" in caught.value.detail
    assert caught.value.extra["errors"][0]["loc"] == ["body", name]


async def test_unknown_fields_are_422_naming_each_and_what_a_submit_takes(tmp_path: Path) -> None:
    body = form(
        ("file", jpeg_bytes(16, 16), True),
        ("variant", b'[{"name": "a", "width": 5}]', False),
        ("presets", b"thumbnail", False),
        ("callback", b"https://example.com/", False),
    )
    with pytest.raises(InvalidRequest) as caught:
        await submit_form(HEADERS, chunks(body), tmp_path, 10**6)
    for name in ("`variant`", "`presets`", "`callback`", "`variants`", "`callback_url`"):
        assert name in caught.value.detail
    locs = [error["loc"] for error in caught.value.extra["errors"]]
    assert locs == [["body", "variant"], ["body", "presets"], ["body", "callback"]]
    assert staged(tmp_path) == []


async def test_a_file_part_sent_as_text_is_422_saying_how_to_send_a_file(tmp_path: Path) -> None:
    """`curl -F file=photo.jpg`, without the `@`: the part is the text `photo.jpg`."""
    body = form(("file", b"photo.jpg", False))
    with pytest.raises(InvalidRequest) as caught:
        await receive_form(HEADERS, chunks(body), tmp_path / "up", 10**6)
    assert "'photo.jpg'" in caught.value.detail
    assert "-F file=@photo.jpg" in caught.value.detail
    # An image's bytes are an image, with a filename or without one.
    received = await receive_form(
        HEADERS, chunks(form(("file", jpeg_bytes(16, 16), False))), tmp_path / "up", 10**6
    )
    assert received.image_type == "jpeg"


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
