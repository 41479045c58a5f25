"""A submission: the received upload checked (type, pixels), or the source URL checked (the
worker fetches it after the `202`), and its variants read."""

import asyncio
import hashlib
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from producer_service.callbacks.targets import check_callback_url
from producer_service.errors import InvalidRequest, PayloadTooLarge, UnsupportedMediaType
from producer_service.forms import SOURCE_URL_FIELD, ReceivedForm, receive_form
from producer_service.presets import Presets
from producer_service.source_urls import check_source_url
from producer_service.staging import UploadArea, discard
from shared.images import (
    ImageHeader,
    ImageRejected,
    Limits,
    TooLarge,
    TooManyOutputPixels,
    TooMuchMemory,
    Unreadable,
    check_outputs,
    check_source,
    read_header,
)
from shared.job_memory import MIB
from shared.schemas import Preset, Priority
from shared.settings import Settings
from shared.variants import Variant, variant_list_adapter

VARIANTS_FIELD = "variants"
PRESET_FIELD = "preset"
CALLBACK_FIELD = "callback_url"
PRIORITY_FIELD = "priority"


def parse_variants(raw: str) -> list[Variant]:
    """The `variants` field: a JSON array of variants."""
    try:
        return variant_list_adapter.validate_json(raw)
    except ValidationError as exc:
        raise InvalidRequest.from_errors(exc.errors(), prefix=[VARIANTS_FIELD]) from exc


@dataclass(frozen=True)
class Chosen:
    """The variants a submit asked for, and the preset that named them (None: spelled out)."""

    variants: list[Variant]
    preset: str | None


def choose_variants(
    fields: Mapping[str, str],
    presets: Presets,
    presets_only: bool,
    only_preset: str | None = None,
) -> Chosen:
    """`variants` or `preset` (one, not both); neither means the `default` preset, unless the
    deployment takes presets only. With `only_preset` (a preset-limited browser token), that
    preset, whether named or not, and nothing else."""
    raw = fields.get(VARIANTS_FIELD, "").strip()
    name = fields.get(PRESET_FIELD, "").strip()
    if raw and name:
        raise _field_error(PRESET_FIELD, "Send `variants` or `preset`, not both.", "conflict")
    if only_preset is not None:
        name = _token_preset(only_preset, raw, name)
    if presets_only and not name:
        raise _field_error(
            PRESET_FIELD,
            f"This service takes presets only: send `preset`, one of {_names(presets)}.",
            "missing" if not raw else "presets_only",
        )
    if raw:
        return Chosen(parse_variants(raw), None)
    preset = known_preset(name, presets) if name else presets.default
    return Chosen(list(preset.variants), preset.name)


def known_preset(name: str, presets: Presets) -> Preset:
    """The preset called `name` (sent as the field `preset`); 422 naming the ones there are
    when there is none."""
    preset = presets.get(name)
    if preset is None:
        raise _field_error(
            PRESET_FIELD, f"No preset is named {name[:64]!r}; there are {_names(presets)}.", "enum"
        )
    return preset


def _token_preset(only: str, raw: str, name: str) -> str:
    """The preset a preset-limited token's submit gets: its own, asked for or not."""
    if raw or name not in ("", only):
        raise _field_error(
            VARIANTS_FIELD if raw else PRESET_FIELD,
            f"This browser token may only submit the preset `{only}`: send `preset={only}`, "
            "or neither `preset` nor `variants`.",
            "token_preset",
        )
    return only


def _names(presets: Presets) -> str:
    return ", ".join(f"`{name}`" for name in presets.names)


def _field_error(field: str, message: str, kind: str) -> InvalidRequest:
    return InvalidRequest(message, errors=[{"loc": ["body", field], "msg": message, "type": kind}])


@dataclass(frozen=True)
class Submission:
    # The uploaded file and what its header says; both None for a `source_url` submit.
    path: Path | None
    variants: list[Variant]
    image: ImageHeader | None
    preset: str | None = None
    # What makes two submits the same request, for an Idempotency-Key; None when not asked for.
    fingerprint: str | None = None
    # Where the completion webhook goes; None: no webhook.
    callback_url: str | None = None
    # Where the worker fetches the original from; None: it was uploaded.
    source_url: str | None = None
    priority: Priority = Priority.INTERACTIVE


def request_fingerprint(file_digest: bytes, chosen: Chosen, callback_url: str | None = None) -> str:
    """SHA-256 over the file's digest, the variants as the service reads them (defaults
    filled in, so the same request spelled differently still matches), the preset and the
    callback URL."""
    hasher = hashlib.sha256(file_digest)
    hasher.update(variant_list_adapter.dump_json(chosen.variants))
    if chosen.preset is not None:
        hasher.update(b"\0preset:" + chosen.preset.encode())
    if callback_url is not None:
        hasher.update(b"\0callback:" + callback_url.encode())
    return hasher.hexdigest()


@asynccontextmanager
async def received_submission(
    headers: Mapping[str, str],
    body: AsyncIterator[bytes],
    uploads: UploadArea,
    settings: Settings,
    presets: Presets,
    *,
    fingerprint: bool = False,
    only_preset: str | None = None,
    by_token: bool = False,
) -> AsyncIterator[Submission]:
    """Receive, check and probe an upload, for the block to submit. The upload's temp file is
    the submission's: removed when the block ends, whether it was refused, failed, or became
    the job's original (a rename, on local storage, that leaves nothing to remove).
    `only_preset`: the one preset the caller may submit (see `choose_variants`); `by_token`:
    the caller holds a browser token, which may not choose where webhooks go."""
    path = uploads.new_temp_path()
    try:
        form = await receive_form(
            headers, body, path, settings.max_upload_bytes, digest=fingerprint
        )
        chosen = choose_variants(form.fields, presets, settings.presets_only, only_preset)
        callback_url = await read_callback_url(form.fields, settings, by_token)
        source_url = await read_source_url(form.fields, settings)
        image = None
        if source_url is None:
            image = await checked_upload(path, chosen.variants, settings)
        digest = None
        if form.digest is not None:
            digest = request_fingerprint(_source_digest(form, source_url), chosen, callback_url)
        yield Submission(
            path if source_url is None else None,
            chosen.variants,
            image,
            chosen.preset,
            digest,
            callback_url,
            source_url,
            read_priority(form.fields),
        )
    finally:
        await discard(path)


async def checked_upload(path: Path, variants: list[Variant], settings: Settings) -> ImageHeader:
    """The upload's header, once its pixels and the variants' outputs are within limits."""
    limits = Limits.of(settings)
    image = await asyncio.to_thread(probe, path, limits)
    check_variants_fit(variants, image, limits)
    return image


def _source_digest(form: ReceivedForm, source_url: str | None) -> bytes:
    """What stands for the image in a request's fingerprint: the file's digest, or the URL's
    (the same URL is the same request, whatever it serves by now)."""
    if source_url is not None:
        return hashlib.sha256(b"source_url\0" + source_url.encode()).digest()
    assert form.digest is not None
    return form.digest


async def read_source_url(fields: Mapping[str, str], settings: Settings) -> str | None:
    """The `source_url` field, checked (see `source_urls`); None when absent or blank."""
    raw = fields.get(SOURCE_URL_FIELD, "").strip()
    if not raw:
        return None
    return await check_source_url(raw, allow_private=settings.source_url_allow_private)


async def read_callback_url(
    fields: Mapping[str, str], settings: Settings, by_token: bool
) -> str | None:
    """The `callback_url` field, checked (see `webhooks.targets`); None when absent or blank."""
    raw = fields.get(CALLBACK_FIELD, "").strip()
    if not raw:
        return None
    if by_token:
        # Else a page could send its key's signed webhooks anywhere it likes.
        raise _field_error(
            CALLBACK_FIELD,
            "A browser token cannot set callback_url; webhooks go where the backend that holds "
            "the API key sends them.",
            "token_callback",
        )
    return await check_callback_url(
        raw,
        secret_set=settings.webhook_secret is not None,
        allow_private=settings.webhook_allow_private,
    )


def read_priority(fields: Mapping[str, str]) -> Priority:
    """The `priority` field: `interactive` when absent or blank; 422 naming the two otherwise."""
    raw = fields.get(PRIORITY_FIELD, "").strip()
    if not raw:
        return Priority.INTERACTIVE
    try:
        return Priority(raw)
    except ValueError:
        names = " or ".join(f"`{p.value}`" for p in Priority)
        raise _field_error(
            PRIORITY_FIELD, f"`priority` is {names}, not {raw[:64]!r}.", "enum"
        ) from None


def check_variants_fit(variants: list[Variant], image: ImageHeader, limits: Limits) -> None:
    """The variants' output pixels and memory from this image, within `limits`: else `422`
    on the variants field, with the figures."""
    try:
        check_outputs(variants, image, limits)
    except TooManyOutputPixels as exc:
        msg = f"{exc.asked} output pixels over the limit of {exc.limit}"
        raise _variants_error(exc, msg) from exc
    except TooMuchMemory as exc:
        msg = f"about {exc.needed // MIB} MiB of worker memory over the {exc.budget // MIB} MiB"
        raise _variants_error(exc, msg) from exc


def _variants_error(exc: ImageRejected, msg: str) -> InvalidRequest:
    return InvalidRequest(
        str(exc), errors=[{"loc": ["body", VARIANTS_FIELD], "msg": msg, "type": exc.code.value}]
    )


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
