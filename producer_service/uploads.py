"""A submission: the received upload checked (type, pixels) and its variants read."""

import asyncio
import hashlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from producer_service.errors import InvalidRequest, PayloadTooLarge, UnsupportedMediaType
from producer_service.forms import receive_form
from producer_service.storage import discard
from shared.images import (
    ImageHeader,
    Limits,
    TooLarge,
    TooManyOutputPixels,
    Unreadable,
    check_outputs,
    check_source,
    read_header,
)
from shared.schemas import DEFAULT_VARIANTS, Variant, variant_list_adapter
from shared.settings import Settings

VARIANTS_FIELD = "variants"


def parse_variants(raw: str | None) -> list[Variant]:
    """The `variants` field: a JSON array of variants; absent or blank means the defaults."""
    if raw is None or not raw.strip():
        return list(DEFAULT_VARIANTS)
    try:
        return variant_list_adapter.validate_json(raw)
    except ValidationError as exc:
        raise InvalidRequest.from_errors(exc.errors(), prefix=[VARIANTS_FIELD]) from exc


@dataclass(frozen=True)
class Submission:
    path: Path
    variants: list[Variant]
    image: ImageHeader
    # What makes two submits the same request, for an Idempotency-Key; None when not asked for.
    fingerprint: str | None = None


def request_fingerprint(file_digest: bytes, variants: list[Variant]) -> str:
    """SHA-256 over the file's digest and the variants as the service reads them (defaults
    filled in), so the same request spelled differently still matches."""
    hasher = hashlib.sha256(file_digest)
    hasher.update(variant_list_adapter.dump_json(variants))
    return hasher.hexdigest()


async def read_submission(
    headers: Mapping[str, str],
    body: AsyncIterator[bytes],
    path: Path,
    settings: Settings,
    *,
    fingerprint: bool = False,
) -> Submission:
    """Receive, check and probe an upload; on any refusal the received file is removed."""
    form = await receive_form(headers, body, path, settings.max_upload_bytes, digest=fingerprint)
    try:
        variants = parse_variants(form.fields.get(VARIANTS_FIELD))
        limits = Limits.of(settings)
        image = await asyncio.to_thread(probe, form.path, limits)
        check_output_pixels(variants, image, limits)
    except BaseException:
        await discard(form.path)
        raise
    digest = None if form.digest is None else request_fingerprint(form.digest, variants)
    return Submission(form.path, variants, image, digest)


def check_output_pixels(variants: list[Variant], image: ImageHeader, limits: Limits) -> None:
    try:
        check_outputs(variants, image, limits)
    except TooManyOutputPixels as exc:
        raise InvalidRequest(
            str(exc),
            errors=[
                {
                    "loc": ["body", VARIANTS_FIELD],
                    "msg": f"{exc.asked} output pixels over the limit of {exc.limit}",
                    "type": "too_many_output_pixels",
                }
            ],
        ) from exc


def probe(path: Path, limits: Limits) -> ImageHeader:
    """Read the upload's header only, and refuse what cannot or must not be resized."""
    try:
        header = read_header(path)
        check_source(header, limits)
    except TooLarge as exc:
        raise PayloadTooLarge(str(exc)) from exc
    except Unreadable as exc:
        raise UnsupportedMediaType(str(exc)) from exc
    return header
