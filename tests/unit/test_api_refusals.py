"""Every way the API refuses a request (401, 404, 405, 409, 413, 415, 422, 429), in process
with an in-memory broker: each answer is a problem, and nothing is kept or queued for it.
The broker's own answers (202 after a confirm, 503s) are in tests/integration."""

import base64
import hashlib
import json
import logging
import struct
import uuid
import zlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import SecretStr

from producer_service.db.store import JobStore
from producer_service.records import JobRecord
from producer_service.submissions import Chosen, request_fingerprint
from shared.variants import DEFAULT_VARIANTS, variant_list_adapter
from tests.client import assert_problem
from tests.images import FIXTURES, jpeg_bytes, photo
from tests.support import ALICE, ALICE_NEXT, BOB, originals
from tests.support.served import Serve

VARIANTS = [
    {"name": "thumb", "width": 320, "format": "webp"},
    {"name": "sq", "width": 64, "height": 64, "fit": "cover", "crop": "attention"},
]
IDEMPOTENCY = {"Idempotency-Key": "order-42-avatar"}


def as_key(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def lying_png(width: int, height: int) -> bytes:
    """A real 16x16 PNG whose header (IHDR, checksum fixed up) claims another size."""
    data = bytearray(photo(16, 16).pngsave_buffer())
    ihdr = data.index(b"IHDR")
    data[ihdr + 4 : ihdr + 12] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr : ihdr + 17]))
    data[ihdr + 17 : ihdr + 21] = struct.pack(">I", crc)
    return bytes(data)


async def test_a_submit_without_variants_queues_the_documented_defaults(serve: Serve) -> None:
    async with serve() as served:
        job_id = await served.api.submit(jpeg_bytes())
    (task,) = served.tasks
    assert str(task.job_id) == job_id
    assert task.variants == list(DEFAULT_VARIANTS)


# ---- 404 and 405: what does not exist, asked for in any shape ----


async def test_unknown_and_malformed_ids_and_names_are_404_problems(serve: Serve) -> None:
    async with serve() as served:
        http = served.api.http
        job_id = await served.api.submit(jpeg_bytes(), VARIANTS)
        for path in (
            f"/v1/jobs/{uuid.uuid4()}",
            "/v1/jobs/not-a-uuid",
            f"/v1/jobs/{'9' * 5000}",
            f"/v1/jobs/{uuid.uuid4()}/outputs/thumb",
            f"/v1/jobs/{uuid.uuid4()}/events",
            "/v1/jobs/not-a-uuid/events",
            f"/v1/jobs/{job_id}/outputs/nope",
            f"/v1/jobs/{job_id}/outputs/..%2F..%2Fjobs.db",
            f"/v1/jobs/{job_id}/outputs/Thumb",
            f"/v1/jobs/{job_id}/outputs/{'t' * 5000}",
        ):
            body = assert_problem(await http.get(path), 404)
            # What the client sent is quoted back cut short, never whole.
            assert len(str(body["detail"])) < 200, path
        not_ready = await http.get(f"/v1/jobs/{job_id}/outputs/thumb")
    assert_problem(not_ready, 409)


async def test_unknown_routes_and_methods_are_problems(serve: Serve) -> None:
    async with serve() as served:
        unknown = await served.api.http.get("/v2/jobs")
        wrong_method = await served.api.http.put("/v1/jobs")
    assert assert_problem(unknown, 404)["type"] == "/problems/not-found"
    assert assert_problem(wrong_method, 405)["type"] == "/problems/method-not-allowed"
    assert wrong_method.headers["allow"] == "GET, POST"


# ---- 413: too large in bytes, pixels or pages, found before anything is decoded ----


async def test_an_upload_over_max_upload_bytes_is_413_and_leaves_nothing(serve: Serve) -> None:
    async with serve(max_upload_bytes=20_000) as served:
        response = await served.api.post_job(jpeg_bytes(800, 600))
        assert_problem(response, 413)
        await served.assert_nothing_kept()


@pytest.mark.parametrize(
    ("image", "limit", "detail"),
    [
        (jpeg_bytes(101, 100), {"max_input_pixels": 100 * 100}, "pixels"),
        (lying_png(60_000, 60_000), {}, "pixels"),
        ((FIXTURES / "animated.gif").read_bytes(), {"max_input_pages": 2}, "3 pages or frames"),
    ],
    ids=["pixels", "lying-png-header", "pages"],
)
async def test_an_image_over_a_limit_is_413_from_its_header(
    serve: Serve, image: bytes, limit: dict[str, int], detail: str
) -> None:
    async with serve(**limit) as served:
        response = await served.api.post_job(image)
        assert detail in str(assert_problem(response, 413)["detail"])
        await served.assert_nothing_kept()


BOUNDARY = "b0undary"
FILE_HEAD = (
    f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n'
    "Content-Type: image/jpeg\r\n\r\n"
).encode()
MISNAMED_FILE = (
    f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\n\r\nx\r\n'
).encode()


@pytest.mark.parametrize(
    ("start", "filler"),
    [
        (FILE_HEAD + jpeg_bytes(64, 64), b"\0" * 65536),
        (FILE_HEAD + jpeg_bytes(64, 64) + f"\r\n--{BOUNDARY}--\r\n".encode(), b"\0" * 65536),
        (b"", MISNAMED_FILE * 2000),
    ],
    ids=["in-the-file", "after-the-closing-boundary", "many-small-misnamed-files"],
)
async def test_a_chunked_body_with_no_length_is_cut_off_at_the_limit(
    serve: Serve, start: bytes, filler: bytes
) -> None:
    """No Content-Length to refuse up front: the stream is refused once the body passes the
    limit, wherever its bytes are, not after it has all been received."""
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        yield start
        while sent < 64 * 2**20:  # 64 MB if it were all read
            sent += len(filler)
            yield filler

    async with serve(max_upload_bytes=100_000) as served:
        response = await served.api.http.post(
            "/v1/jobs",
            content=body(),
            headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
        )
        assert_problem(response, 413)
        assert sent < 1_000_000
        await served.assert_nothing_kept()


# ---- 415: not an image the service reads ----


@pytest.mark.parametrize(
    "content",
    [
        b"%PDF-1.7\n%\xe2\xe3\n1 0 obj\n",
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
        b"",
        b"\x89PNG\r\n\x1a\n but not really a png at all",
        jpeg_bytes()[:200],
    ],
    ids=["pdf", "svg", "empty", "png-signature-only", "truncated-jpeg"],
)
async def test_a_file_that_is_not_a_readable_image_is_415(serve: Serve, content: bytes) -> None:
    async with serve() as served:
        assert_problem(await served.api.post_job(content), 415)
        await served.assert_nothing_kept()


async def test_a_body_that_is_not_a_form_is_415(serve: Serve) -> None:
    async with serve() as served:
        assert_problem(await served.api.http.post("/v1/jobs", json={"file": "photo.jpg"}), 415)


# ---- 422: a form or variants the service cannot take ----


@pytest.mark.parametrize(
    "variants",
    [
        "not json",
        [{"name": "Bad Name", "width": 10}],
        [{"name": "a", "width": 10}, {"name": "a", "height": 10}],
        [{"name": "a"}],
        [{"name": "a", "width": 8193}],
        [{"name": "a", "width": 10, "fit": "squash"}],
        [{"name": "a", "width": 10, "format": "bmp"}],
        [{"name": "a", "width": 10, "quality": 0}],
        [{"name": f"v{i}", "width": 10} for i in range(11)],
    ],
)
async def test_bad_variants_are_422_with_field_errors(serve: Serve, variants: Any) -> None:
    async with serve() as served:
        body = assert_problem(await served.api.post_job(jpeg_bytes(), variants), 422)
        assert body["errors"]
        await served.assert_nothing_kept()


async def test_a_form_without_a_file_is_422(serve: Serve) -> None:
    async with serve() as served:
        response = await served.api.http.post(
            "/v1/jobs", files={"other": ("p.jpg", b"x", "image/jpeg")}, data={"variants": "[]"}
        )
    assert_problem(response, 422)


async def test_a_photo_sent_under_another_part_name_is_422_naming_both(serve: Serve) -> None:
    """`curl -F image=@photo.jpg`: a large file in the wrong part is not a 413 for a field."""
    async with serve() as served:
        response = await served.api.post_job(jpeg_bytes(2000, 1500), part="image")
        body = assert_problem(response, 422)
        assert "`file`" in str(body["detail"])
        assert "`image`" in str(body["detail"])
        await served.assert_nothing_kept()


async def test_a_boundary_over_256_characters_is_a_422_problem(serve: Serve) -> None:
    boundary = "b" * 300
    async with serve() as served:
        response = await served.api.http.post(
            "/v1/jobs",
            content=f"--{boundary}--\r\n",
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
    assert "malformed" in str(assert_problem(response, 422)["detail"])


async def test_two_invalid_halves_of_variants_are_not_joined_into_one(serve: Serve) -> None:
    halves = [("variants", '[{"name": "a",'), ("variants", ' "width": 50}]')]
    async with serve() as served:
        response = await served.api.http.post(
            "/v1/jobs", files=[("file", ("p.jpg", jpeg_bytes(), "image/jpeg")), *halves]
        )
        body = assert_problem(response, 422)
        assert body["errors"][0]["loc"] == ["body", "variants"]
        await served.assert_nothing_kept()


@pytest.mark.parametrize(
    ("form", "query", "named"),
    [
        ({"variant": '[{"name": "a", "width": 50}]'}, "", "`variant`"),
        ({"presets": "thumbnail"}, "", "`presets`"),
        ({"callback": "https://hooks.example.com/"}, "", "`callback`"),
        ({}, "?preset=thumbnail", "`preset`"),
    ],
)
async def test_an_unknown_field_or_query_parameter_is_422_naming_it(
    serve: Serve, form: dict[str, str], query: str, named: str
) -> None:
    """A misspelt field must not silently give the default variants."""
    async with serve() as served:
        response = await served.api.http.post(
            f"/v1/jobs{query}", files={"file": ("p.jpg", jpeg_bytes(), "image/jpeg")}, data=form
        )
        assert named in str(assert_problem(response, 422)["detail"])
        await served.assert_nothing_kept()


async def test_every_v1_route_refuses_a_query_parameter_it_does_not_declare(serve: Serve) -> None:
    async with serve() as served:
        spec = (await served.api.http.get("/openapi.json")).json()
        for path, operations in spec["paths"].items():
            if not path.startswith("/v1/"):
                continue
            url = path.format(job_id=uuid.uuid4(), name="thumb") + "?limit=5&verbose=1"
            for method in operations:
                response = await served.api.http.request(method.upper(), url)
                if method == "head":  # the same answer, without its body
                    assert response.status_code == 422
                    continue
                refused = [e["loc"] for e in assert_problem(response, 422)["errors"]]
                declared = _query_names(operations[method])
                unknown = [name for name in ("limit", "verbose") if name not in declared]
                assert refused == [["query", name] for name in unknown], (method, path)
                assert "422" in operations[method]["responses"], (method, path)


def _query_names(operation: dict[str, Any]) -> set[str]:
    return {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}


async def test_a_file_sent_as_its_name_is_422_saying_how_to_send_the_file(serve: Serve) -> None:
    """`curl -F file=photo.jpg` (no `@`) sends the text `photo.jpg`, not the photo."""
    async with serve() as served:
        response = await served.api.http.post("/v1/jobs", files={"file": (None, "photo.jpg")})
        detail = str(assert_problem(response, 422)["detail"])
        assert "text field" in detail
        assert "-F file=@photo.jpg" in detail
        await served.assert_nothing_kept()


async def test_variants_asking_for_too_many_output_pixels_are_422(serve: Serve) -> None:
    """One small photo asking for an 8192x8192 upscaled PNG (67 MP, a 45 MB file)."""
    huge = [{"name": "poster", "width": 8192, "height": 8192, "fit": "fill", "upscale": True}]
    async with serve() as served:
        refused = await served.api.post_job(jpeg_bytes(600, 400), huge)
        assert "MAX_OUTPUT_PIXELS" in str(assert_problem(refused, 422)["detail"])
        await served.assert_nothing_kept()


async def test_variants_needing_more_memory_than_a_worker_has_are_422(serve: Serve) -> None:
    """A 40 MP AVIF (inside MAX_OUTPUT_PIXELS) holds about 1 GiB while it is encoded."""
    poster = [{"name": "poster", "width": 6324, "height": 6324, "format": "avif", "upscale": True}]
    async with serve(worker_memory_mb=512) as served:
        refused = await served.api.post_job(jpeg_bytes(600, 400), poster)
        problem = assert_problem(refused, 422)
        assert "WORKER_MEMORY_MB" in str(problem["detail"])
        assert problem["errors"][0]["type"] == "too_much_memory"
        await served.assert_nothing_kept()
        as_webp = [{**poster[0], "format": "webp"}]
        assert (await served.api.post_job(jpeg_bytes(600, 400), as_webp)).status_code == 202


async def test_an_idempotency_key_with_another_file_or_variants_is_422(serve: Serve) -> None:
    thumb = [{"name": "thumb", "width": 120, "format": "webp"}]
    async with serve() as served:
        api = served.api
        first = await api.post_job(jpeg_bytes(), thumb, IDEMPOTENCY)
        other_file = await api.post_job(jpeg_bytes(320, 240), thumb, IDEMPOTENCY)
        other_variants = await api.post_job(
            jpeg_bytes(), [{"name": "thumb", "width": 121}], IDEMPOTENCY
        )
        # The same variants spelled out with their defaults are the same request.
        spelled_out = [{**thumb[0], "fit": "contain", "quality": 80}]
        same = await api.post_job(jpeg_bytes(), spelled_out, IDEMPOTENCY)
    assert first.status_code == 202
    for refused in (other_file, other_variants):
        assert assert_problem(refused, 422)["type"] == "/problems/idempotency-key-reused"
    assert same.status_code == 202
    assert same.json()["id"] == first.json()["id"]
    assert len(served.tasks) == 1


async def test_a_key_whose_first_try_is_unconfirmed_is_409_until_it_is_confirmed(
    serve: Serve,
) -> None:
    thumb = variant_list_adapter.validate_python([{"name": "thumb", "width": 120}])
    image = jpeg_bytes()
    fingerprint = request_fingerprint(hashlib.sha256(image).digest(), Chosen(thumb, None))
    # The row of an API that died waiting for its confirm, before the outbox relay found it.
    job_id = uuid.uuid4()
    key = IDEMPOTENCY["Idempotency-Key"]
    pending = JobRecord.new(job_id, thumb, f"originals/{job_id}", key, fingerprint)
    form = [variant.model_dump() for variant in thumb]
    # Quick timeouts: the replay waits for the first try's confirm and clean-up, then gives up.
    async with serve(publish_timeout_seconds=0.5, database_timeout_seconds=0.5) as served:
        store = JobStore.from_settings(served.settings)
        try:
            await store.add(pending)
            in_flight = await served.api.post_job(image, form, IDEMPOTENCY)
            await store.mark_published(job_id)
            confirmed = await served.api.post_job(image, form, IDEMPOTENCY)
        finally:
            await store.close()
    body = assert_problem(in_flight, 409)
    assert body["type"] == "/problems/idempotency-key-in-flight"
    assert int(in_flight.headers["retry-after"]) > 0
    assert confirmed.status_code == 202
    assert confirmed.json()["id"] == str(job_id)


def cursor_of(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        cursor_of("[" * 3000),  # nested deeper than a JSON parser recurses
        "A" * 20_000,
        "not-a-cursor",
        "é",
        cursor_of(json.dumps(["2026-01-01T00:00:00", str(uuid.uuid4())])),  # no time zone
        cursor_of(json.dumps(["0001-01-01T00:00:00+14:00", str(uuid.uuid4())])),  # before year 1
        cursor_of(json.dumps([[1], str(uuid.uuid4())])),
        cursor_of(json.dumps({"a": 1, "b": 2})),
    ],
    ids=["nested", "long", "not-base64", "not-ascii", "naive", "overflow", "list", "object"],
)
async def test_a_cursor_the_api_never_handed_out_is_a_422_naming_cursor(
    serve: Serve, cursor: str
) -> None:
    async with serve() as served:
        answer = await served.api.http.get("/v1/jobs", params={"cursor": cursor})
    body = assert_problem(answer, 422)
    assert [error["loc"] for error in body["errors"]] == [["query", "cursor"]]


# ---- 401 and tenancy: keys ----


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer", "Bearer wrong-key", f"Basic {ALICE}", ALICE, f"Bearer {ALICE}x"],
)
async def test_v1_without_a_valid_key_is_401_with_a_challenge(
    serve: Serve, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    async with serve(api_keys=SecretStr(ALICE)) as served:
        for method, url in [("GET", "/v1/jobs"), ("POST", "/v1/jobs"), ("GET", "/v1/jobs/x")]:
            response = await served.api.http.request(method, url, headers=headers)
            body = assert_problem(response, 401)
            assert response.headers["www-authenticate"].startswith("Bearer")
            assert body["type"] == "/problems/unauthorized"


async def test_health_and_docs_stay_open_with_keys_on(serve: Serve) -> None:
    async with serve(api_keys=SecretStr(ALICE)) as served:
        for url in ["/healthz", "/readyz", "/docs", "/openapi.json"]:
            assert (await served.api.http.get(url)).status_code == 200, url


async def test_another_keys_job_is_404_everywhere_and_each_key_lists_its_own(
    serve: Serve,
) -> None:
    async with serve(api_keys=SecretStr(f"{ALICE}, {BOB},{ALICE_NEXT}")) as served:
        api, http = served.api, served.api.http
        alice = await api.submit(jpeg_bytes(), VARIANTS, as_key(ALICE))
        rotated = await api.submit(jpeg_bytes(), VARIANTS, as_key(ALICE_NEXT))
        for method, url in [
            ("GET", f"/v1/jobs/{alice}"),
            ("GET", f"/v1/jobs/{alice}/outputs/thumb"),
            ("POST", f"/v1/jobs/{alice}/retry"),
            ("GET", f"/v1/jobs/{alice}/events"),
        ]:
            response = await http.request(method, url, headers=as_key(BOB))
            assert assert_problem(response, 404)["type"] == "/problems/job-not-found", url
        listed = {
            key: [
                job["id"]
                for job in (await http.get("/v1/jobs", headers=as_key(key))).json()["items"]
            ]
            for key in (ALICE, BOB, ALICE_NEXT)
        }
    assert listed == {ALICE: [alice], BOB: [], ALICE_NEXT: [rotated]}


async def test_idempotency_keys_are_scoped_per_api_key(serve: Serve) -> None:
    async with serve(api_keys=SecretStr(f"{ALICE},{BOB}")) as served:
        api = served.api
        alice = await api.submit(jpeg_bytes(), VARIANTS, {**as_key(ALICE), **IDEMPOTENCY})
        replay = await api.submit(jpeg_bytes(), VARIANTS, {**as_key(ALICE), **IDEMPOTENCY})
        bob = await api.submit(jpeg_bytes(), VARIANTS, {**as_key(BOB), **IDEMPOTENCY})
    assert replay == alice
    assert bob != alice


async def test_a_key_never_reaches_a_log_line_or_an_answer(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with serve(api_keys=SecretStr(f"{ALICE},{BOB}")) as served:
        accepted = await served.api.post_job(jpeg_bytes(), headers=as_key(ALICE))
        refused = await served.api.http.get("/v1/jobs", headers=as_key("not-a-key-secret-99"))
    assert accepted.status_code == 202
    for secret in (ALICE, BOB, "not-a-key-secret-99"):
        assert secret not in caplog.text
        assert secret not in accepted.text + refused.text
        assert secret not in repr(served.settings)


# ---- 429: fair share ----


async def test_a_key_at_its_active_job_limit_gets_429_and_others_go_on(serve: Serve) -> None:
    keys = SecretStr(f"{ALICE},{BOB}")
    async with serve(api_keys=keys, max_active_jobs_per_key=2) as served:
        api = served.api
        # No worker: the jobs stay queued.
        accepted = [await api.post_job(jpeg_bytes(), headers=as_key(ALICE)) for _ in range(2)]
        refused = await api.post_job(jpeg_bytes(), headers=as_key(ALICE))
        bob = await api.post_job(jpeg_bytes(), headers=as_key(BOB))
        kept = originals(served.settings)
    assert [response.status_code for response in accepted] == [202, 202]
    body = assert_problem(refused, 429)
    assert int(refused.headers["retry-after"]) > 0
    assert body["type"] == "/problems/too-many-active-jobs"
    assert bob.status_code == 202
    # The refused upload was not kept.
    assert len(kept) == len(served.tasks) == 3
