"""The REST API in-process against a real RabbitMQ: submit, status, errors and the docs."""

import json
import struct
import uuid
import zlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aio_pika
import httpx
import pytest
import sqlalchemy as sa
from yarl import URL

from producer_service.database import open_database
from shared.messages import TASK_TYPE, ResizeTask
from shared.schemas import DEFAULT_VARIANTS
from shared.settings import Settings
from tests.client import ApiClient
from tests.conftest import TEST_AMQP_URL, make_settings
from tests.images import jpeg_bytes, photo
from tests.support import BrokerProbe, running_api, wait_for

PROBLEM = "application/problem+json"
VARIANTS = [
    {"name": "thumb", "width": 320, "format": "webp"},
    {"name": "sq", "width": 64, "height": 64, "fit": "cover", "crop": "attention"},
]


def upload(image: bytes, variants: object = None) -> dict[str, object]:
    data = {} if variants is None else {"variants": json.dumps(variants)}
    return {"files": {"file": ("photo.jpg", image, "image/jpeg")}, "data": data}


async def job_count(settings: Settings) -> int:
    database = open_database(settings.job_store_url)
    try:
        return await database.run(
            lambda session: int(session.execute(sa.text("SELECT count(*) FROM jobs")).scalar_one()),
            write=False,
        )
    finally:
        await database.dispose()


def originals(settings: Settings) -> list[Path]:
    folder = settings.data_dir / "originals"
    return list(folder.iterdir()) if folder.exists() else []


def assert_problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, object] = response.json()
    assert {"type", "title", "status", "detail"} <= body.keys()
    assert body["status"] == status
    return body


async def test_submit_answers_202_with_location_after_a_persistent_task_is_queued(
    broker: Settings,
) -> None:
    async with running_api(broker) as client, BrokerProbe.open(broker) as probe:
        response = await client.post("/v1/jobs", **upload(jpeg_bytes(), VARIANTS))  # type: ignore[arg-type]
        assert response.status_code == 202, response.text
        job = response.json()
        assert response.headers["location"] == f"/v1/jobs/{job['id']}"
        assert uuid.UUID(job["id"]).version == 4
        assert job["status"] == "queued"
        assert job["attempts"] == 0
        assert job["outputs"] == []
        assert [v["name"] for v in job["variants"]] == ["thumb", "sq"]

        queue = await probe.channel.get_queue(probe.topology.work_queue)
        message = await queue.get(no_ack=True, timeout=5)
        assert message is not None
        assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
        assert message.content_type == "application/json"
        assert message.message_id == job["id"]
        assert message.type == TASK_TYPE
        task = ResizeTask.model_validate_json(message.body)
        assert str(task.job_id) == job["id"]
        assert (task.run, task.attempt) == (1, 1)
        assert (broker.data_dir / task.source_key).read_bytes() == jpeg_bytes()

        status = await client.get(response.headers["location"])
        assert status.status_code == 200
        assert status.json()["id"] == job["id"]


async def test_submit_without_variants_uses_the_documented_defaults(broker: Settings) -> None:
    async with running_api(broker) as client:
        response = await client.post("/v1/jobs", **upload(jpeg_bytes()))  # type: ignore[arg-type]
    assert response.status_code == 202
    names = [v["name"] for v in response.json()["variants"]]
    assert names == [v.name for v in DEFAULT_VARIANTS]


async def test_unknown_and_malformed_ids_are_404_problems(broker: Settings) -> None:
    async with running_api(broker) as client:
        for path in (
            f"/v1/jobs/{uuid.uuid4()}",
            "/v1/jobs/not-a-uuid",
            f"/v1/jobs/{uuid.uuid4()}/outputs/thumb",
        ):
            assert_problem(await client.get(path), 404)


async def test_outputs_are_409_until_the_job_succeeds_and_404_for_unknown_names(
    broker: Settings,
) -> None:
    async with running_api(broker) as client:
        job = (await client.post("/v1/jobs", **upload(jpeg_bytes(), VARIANTS))).json()  # type: ignore[arg-type]
        assert_problem(await client.get(f"/v1/jobs/{job['id']}/outputs/thumb"), 409)
        assert_problem(await client.get(f"/v1/jobs/{job['id']}/outputs/nope"), 404)


async def test_an_upload_over_max_upload_bytes_is_413_and_leaves_nothing(
    broker_settings: Callable[..., Settings],
) -> None:
    settings = broker_settings(max_upload_bytes=20_000)
    async with running_api(settings) as client:
        response = await client.post("/v1/jobs", **upload(jpeg_bytes(800, 600)))  # type: ignore[arg-type]
    assert_problem(response, 413)
    assert await job_count(settings) == 0
    assert originals(settings) == []
    assert list((settings.data_dir / "tmp").iterdir()) == []


async def test_an_image_over_max_input_pixels_is_413(
    broker_settings: Callable[..., Settings],
) -> None:
    settings = broker_settings(max_input_pixels=100 * 100)
    async with running_api(settings) as client:
        response = await client.post("/v1/jobs", **upload(jpeg_bytes(101, 100)))  # type: ignore[arg-type]
    body = assert_problem(response, 413)
    assert "pixels" in str(body["detail"])
    assert originals(settings) == []


@pytest.mark.parametrize(
    "content",
    [
        b"%PDF-1.7\n%\xe2\xe3\n1 0 obj\n",
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
        b"",
        b"\x89PNG\r\n\x1a\n but not really a png at all",
    ],
)
async def test_a_file_that_is_not_a_readable_image_is_415(broker: Settings, content: bytes) -> None:
    async with running_api(broker) as client:
        response = await client.post(
            "/v1/jobs", files={"file": ("photo.jpg", content, "image/jpeg")}
        )
    assert_problem(response, 415)
    assert await job_count(broker) == 0


async def test_a_body_that_is_not_a_form_is_415(broker: Settings) -> None:
    async with running_api(broker) as client:
        response = await client.post("/v1/jobs", json={"file": "photo.jpg"})
    assert_problem(response, 415)


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
async def test_bad_variants_are_422_with_field_errors(broker: Settings, variants: object) -> None:
    async with running_api(broker) as client:
        data = {"variants": variants if isinstance(variants, str) else json.dumps(variants)}
        response = await client.post(
            "/v1/jobs", files={"file": ("p.jpg", jpeg_bytes(), "image/jpeg")}, data=data
        )
    body = assert_problem(response, 422)
    assert body["errors"]
    assert await job_count(broker) == 0


async def test_a_form_without_a_file_is_422(broker: Settings) -> None:
    async with running_api(broker) as client:
        response = await client.post(
            "/v1/jobs", files={"other": ("p.jpg", b"x", "image/jpeg")}, data={"variants": "[]"}
        )
    assert_problem(response, 422)


async def test_a_photo_sent_under_another_part_name_is_422_naming_both(broker: Settings) -> None:
    """`curl -F image=@photo.jpg`: a large file in the wrong part is not a 413 for a field."""
    async with running_api(broker) as client:
        response = await client.post(
            "/v1/jobs", files={"image": ("photo.jpg", jpeg_bytes(2000, 1500), "image/jpeg")}
        )
    body = assert_problem(response, 422)
    assert "`file`" in str(body["detail"])
    assert "`image`" in str(body["detail"])
    assert not originals(broker)


async def test_with_the_broker_down_submit_is_503_fast_and_reads_still_work(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path, amqp_url="amqp://guest:guest@127.0.0.1:1/")
    async with running_api(settings, ready=False) as client:
        response = await client.post("/v1/jobs", **upload(jpeg_bytes()))  # type: ignore[arg-type]
        assert_problem(response, 503)
        assert int(response.headers["retry-after"]) > 0
        assert_problem(await client.get("/readyz"), 503)
        assert (await client.get("/healthz")).status_code == 200
        assert_problem(await client.get(f"/v1/jobs/{uuid.uuid4()}"), 404)
    assert await job_count(settings) == 0
    assert originals(settings) == []


async def test_wrong_broker_credentials_are_a_login_refused_not_an_outage(
    tmp_path: Path,
) -> None:
    wrong = str(URL(TEST_AMQP_URL).with_password("not-the-password"))
    settings = make_settings(tmp_path, amqp_url=wrong)
    async with running_api(settings, ready=False) as client:

        async def readiness() -> dict[str, object] | None:
            body: dict[str, object] = (await client.get("/readyz")).json()
            return body if body["checks"] != {"broker": "unreachable", **_OTHERS_OK} else None

        ready = await wait_for(readiness, what="the first try to log in")
        submitted = await ApiClient(client).post_job(jpeg_bytes())
    assert ready["checks"] == {"broker": "login refused", **_OTHERS_OK}
    body = assert_problem(submitted, 503)
    assert body["reason"] == "login refused"
    assert "not-the-password" not in submitted.text + str(ready)


_OTHERS_OK = {"store": "ok", "storage": "ok"}


async def test_a_full_queue_gives_503_and_no_phantom_job(
    broker_settings: Callable[..., Settings],
) -> None:
    settings = broker_settings(max_queued_jobs=1)
    async with running_api(settings) as client:
        accepted = await client.post("/v1/jobs", **upload(jpeg_bytes()))  # type: ignore[arg-type]
        refused = await client.post("/v1/jobs", **upload(jpeg_bytes()))  # type: ignore[arg-type]
    assert accepted.status_code == 202
    body = assert_problem(refused, 503)
    assert body["type"] == "/problems/queue-full"
    assert "retry-after" in refused.headers
    assert await job_count(settings) == 1
    assert len(originals(settings)) == 1


async def test_readyz_is_200_when_broker_and_store_answer(broker: Settings) -> None:
    async with running_api(broker) as client:
        response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"broker": "ok", "store": "ok", "storage": "ok"}


async def test_the_openapi_document_describes_every_route_with_examples(broker: Settings) -> None:
    async with running_api(broker) as client:
        spec = (await client.get("/openapi.json")).json()
        docs = await client.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
    expected = {
        ("/v1/jobs", "post"): {"202", "401", "413", "415", "422", "503"},
        ("/v1/jobs/{job_id}", "get"): {"200", "401", "404"},
        ("/v1/jobs/{job_id}/outputs/{name}", "get"): {"200", "304", "401", "404", "409"},
        ("/v1/jobs", "get"): {"200", "401", "422"},
        ("/v1/jobs/{job_id}/retry", "post"): {"202", "401", "404", "409", "503"},
        ("/healthz", "get"): {"200"},
        ("/readyz", "get"): {"200", "503"},
    }
    for (path, method), statuses in expected.items():
        operation = spec["paths"][path][method]
        assert operation["summary"]
        assert statuses <= operation["responses"].keys(), (path, operation["responses"].keys())
        for status, response in operation["responses"].items():
            # Every answer with a body shows what it looks like (a 304 has none).
            for media_type, content in response.get("content", {}).items():
                binary = content.get("schema", {}).get("format") == "binary"
                assert binary or "example" in content or "examples" in content, (
                    path,
                    status,
                    media_type,
                )
    body = spec["paths"]["/v1/jobs"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert body["schema"]["required"] == ["file"]
    assert spec["components"]["schemas"]["Job"]["examples"]
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


async def test_variants_asking_for_too_many_output_pixels_are_422(broker: Settings) -> None:
    """One small photo asking for an 8192x8192 upscaled PNG (67 MP, a 45 MB file)."""
    huge = [{"name": "poster", "width": 8192, "height": 8192, "fit": "fill", "upscale": True}]
    async with running_api(broker) as client:
        api = ApiClient(client)
        refused = await api.post_job(jpeg_bytes(600, 400), huge)
        fine = await api.post_job(jpeg_bytes(600, 400), VARIANTS)
    body = assert_problem(refused, 422)
    assert "MAX_OUTPUT_PIXELS" in str(body["detail"])
    assert fine.status_code == 202
    assert len(originals(broker)) == 1


async def test_unknown_routes_and_methods_are_problems(broker: Settings) -> None:
    async with running_api(broker) as client:
        unknown = await client.get("/v2/jobs")
        wrong_method = await client.put("/v1/jobs")
    assert assert_problem(unknown, 404)["type"] == "/problems/not-found"
    assert assert_problem(wrong_method, 405)["type"] == "/problems/method-not-allowed"
    assert "POST" in wrong_method.headers["allow"]


def lying_png(width: int, height: int) -> bytes:
    """A real 16x16 PNG whose header (IHDR, checksum fixed up) claims another size."""
    data = bytearray(photo(16, 16).pngsave_buffer())
    ihdr = data.index(b"IHDR")
    data[ihdr + 4 : ihdr + 12] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr : ihdr + 17]))
    data[ihdr + 17 : ihdr + 21] = struct.pack(">I", crc)
    return bytes(data)


async def test_a_png_claiming_a_bomb_sized_header_is_413_before_any_decode(
    broker: Settings,
) -> None:
    async with running_api(broker) as client:
        response = await ApiClient(client).post_job(lying_png(60_000, 60_000))
    assert "pixels" in str(assert_problem(response, 413)["detail"])
    assert originals(broker) == []


async def test_a_chunked_body_with_no_length_is_cut_off_at_the_limit(
    broker_settings: Callable[..., Settings],
) -> None:
    """No Content-Length to refuse up front: the stream is refused once it passes the limit,
    not after it has all been received."""
    settings = broker_settings(max_upload_bytes=100_000)
    boundary = "b0undary"
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n'
        yield (head + "Content-Type: image/jpeg\r\n\r\n").encode() + jpeg_bytes(64, 64)
        for _ in range(1000):  # 64 MB if it were all read
            sent += 65536
            yield b"\0" * 65536

    async with running_api(settings) as client:
        response = await client.post(
            "/v1/jobs",
            content=body(),
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
    assert_problem(response, 413)
    assert sent < 1_000_000
    assert list((settings.data_dir / "tmp").iterdir()) == []
