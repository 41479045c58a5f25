"""Presets: the built-in ones, PRESETS_FILE on top, PRESETS_ONLY, and what a submit records."""

import json
from pathlib import Path

import pytest

from producer_service.app import create_app
from producer_service.presets import BUILT_IN, Presets, PresetsFileError
from shared.variants import DEFAULT_VARIANTS
from tests.client import assert_problem
from tests.images import jpeg_bytes
from tests.support import make_settings
from tests.support.served import Serve

AVATAR_FILE = """\
# Our avatars are round and small.
avatar:
  - {name: small, width: 48, height: 48, fit: cover, format: png}
profile-banner:
  - {name: wide, width: 1500, height: 500, fit: cover, crop: attention}
"""


async def test_presets_are_listed_with_their_variants(serve: Serve) -> None:
    async with serve() as served:
        response = await served.api.http.get("/v1/presets")
    assert response.status_code == 200
    listed = {preset["name"]: preset["variants"] for preset in response.json()["presets"]}
    assert set(listed) == {"default", "thumbnail", "avatar", "responsive"}
    assert [v["width"] for v in listed["responsive"]] == [320, 640, 1024, 1600]
    assert listed["default"] == [v.model_dump(mode="json") for v in DEFAULT_VARIANTS]


async def test_a_submit_naming_a_preset_queues_its_variants_and_the_job_records_it(
    serve: Serve,
) -> None:
    async with serve() as served:
        job_id = (await served.api.post_job(jpeg_bytes(), preset="responsive")).json()["id"]
        job = await served.api.job(job_id)
        plain = await served.api.job(await served.api.submit(jpeg_bytes()))
    (responsive, default) = served.tasks
    assert [v.name for v in responsive.variants] == ["w320", "w640", "w1024", "w1600"]
    assert job["preset"] == "responsive"
    assert [v["name"] for v in job["variants"]] == ["w320", "w640", "w1024", "w1600"]
    assert default.variants == list(DEFAULT_VARIANTS)
    assert plain["preset"] == "default"


async def test_variants_and_a_preset_at_once_or_an_unknown_preset_are_422(serve: Serve) -> None:
    async with serve() as served:
        both = await served.api.post_job(jpeg_bytes(), [{"name": "a", "width": 9}], preset="avatar")
        unknown = await served.api.post_job(jpeg_bytes(), preset="huge")
        await served.assert_nothing_kept()
    assert assert_problem(both, 422)["errors"][0]["loc"] == ["body", "preset"]
    detail = assert_problem(unknown, 422)["detail"]
    assert "'huge'" in detail
    assert "`thumbnail`" in detail


async def test_presets_only_refuses_spelled_out_variants_and_a_missing_preset(
    serve: Serve,
) -> None:
    async with serve(presets_only=True) as served:
        spelled_out = await served.api.post_job(jpeg_bytes(), [{"name": "a", "width": 9}])
        neither = await served.api.post_job(jpeg_bytes())
        await served.assert_nothing_kept()
        named = await served.api.post_job(jpeg_bytes(), preset="thumbnail")
    for refused in (spelled_out, neither):
        assert "presets only" in assert_problem(refused, 422)["detail"]
    assert named.status_code == 202


async def test_a_presets_file_adds_presets_and_replaces_built_ins_of_the_same_name(
    serve: Serve, tmp_path: Path
) -> None:
    presets_file = tmp_path / "presets.yaml"
    presets_file.write_text(AVATAR_FILE)
    async with serve(presets_file=presets_file) as served:
        listed = (await served.api.http.get("/v1/presets")).json()["presets"]
        accepted = await served.api.post_job(jpeg_bytes(), preset="profile-banner")
        await served.api.post_job(jpeg_bytes(), preset="avatar")
    names = [preset["name"] for preset in listed]
    assert names == [preset.name for preset in BUILT_IN] + ["profile-banner"]
    assert accepted.status_code == 202
    (banner, avatar) = served.tasks
    assert [(v.name, v.width) for v in banner.variants] == [("wide", 1500)]
    assert [(v.name, v.width, v.format.value) for v in avatar.variants] == [("small", 48, "png")]


@pytest.mark.parametrize(
    ("content", "complaint"),
    [
        ("avatar: [{name: small}]", "preset 'avatar': 0: Value error, a variant needs a width"),
        ('{"Bad Name": [{"name": "a", "width": 1}]}', "'Bad Name' must match"),
        ("[1, 2]", "must map preset names to lists of variants"),
        ("avatar: [", "cannot be read"),
    ],
)
def test_a_presets_file_that_cannot_be_used_stops_the_api_at_start_saying_why(
    tmp_path: Path, content: str, complaint: str
) -> None:
    presets_file = tmp_path / "presets.yaml"
    presets_file.write_text(content)
    with pytest.raises(PresetsFileError) as caught:
        create_app(make_settings(tmp_path, presets_file=presets_file))
    assert str(presets_file) in str(caught.value)
    assert complaint in str(caught.value)


def test_a_json_presets_file_is_read_as_json(tmp_path: Path) -> None:
    presets_file = tmp_path / "presets.json"
    presets_file.write_text(json.dumps({"tiny": [{"name": "t", "width": 16}]}) + "\n")
    tiny = Presets.of(make_settings(tmp_path, presets_file=presets_file)).get("tiny")
    assert tiny is not None
    assert tiny.variants[0].width == 16
