"""Outputs appear whole or not at all, the manifest says a job is done, and uploads are swept."""

import os
import time
import uuid
from pathlib import Path

import pytest

from producer_service.storage import LocalStorage
from shared import layout
from shared.messages import JobResult, RenderedOutput
from shared.schemas import OutputFormat, Placeholder, SourceFormat, SourceImage
from worker_service.storage import OutputStorage


def output(job_id: uuid.UUID, name: str = "thumb") -> RenderedOutput:
    key = layout.output_key(job_id, name, OutputFormat.WEBP)
    return RenderedOutput(
        name=name, format=OutputFormat.WEBP, width=1, height=1, size_bytes=3, key=key
    )


def test_a_write_replaces_the_file_in_one_step_and_leaves_no_temp_files(tmp_path: Path) -> None:
    storage = OutputStorage(tmp_path)
    storage.write("outputs/a/thumb.webp", b"old")
    storage.write("outputs/a/thumb.webp", b"new")
    assert [p.name for p in (tmp_path / "outputs/a").iterdir()] == ["thumb.webp"]
    assert (tmp_path / "outputs/a/thumb.webp").read_bytes() == b"new"


def test_a_write_that_fails_midway_keeps_the_old_file_and_no_debris(tmp_path: Path) -> None:
    storage = OutputStorage(tmp_path)
    storage.write("outputs/a/thumb.webp", b"old")
    with pytest.raises(TypeError):
        storage.write("outputs/a/thumb.webp", "not bytes")  # type: ignore[arg-type]
    assert [p.name for p in (tmp_path / "outputs/a").iterdir()] == ["thumb.webp"]
    assert (tmp_path / "outputs/a/thumb.webp").read_bytes() == b"old"


def test_a_job_is_done_only_once_its_manifest_and_every_output_exist(tmp_path: Path) -> None:
    storage = OutputStorage(tmp_path)
    job_id = uuid.uuid4()
    outputs = [output(job_id, "a"), output(job_id, "b")]
    result = JobResult(
        outputs=outputs,
        source=SourceImage(format=SourceFormat.PNG, width=2, height=2),
        placeholder=Placeholder(thumbhash="AAAA", dominant_color="#000000"),
    )
    assert storage.read_manifest(job_id) is None
    for item in outputs:
        storage.write(item.key, b"img")
    assert storage.read_manifest(job_id) is None
    storage.write_manifest(job_id, result)
    assert storage.read_manifest(job_id) == result
    storage.path_of(outputs[1].key).unlink()
    assert storage.read_manifest(job_id) is None


def test_a_manifest_of_an_older_version_counts_as_not_done(tmp_path: Path) -> None:
    storage = OutputStorage(tmp_path)
    job_id = uuid.uuid4()
    item = output(job_id)
    storage.write(item.key, b"img")
    storage.write(layout.manifest_key(job_id), f"[{item.model_dump_json()}]".encode())
    assert storage.read_manifest(job_id) is None


@pytest.mark.parametrize("key", ["/etc/passwd", "../secret", "outputs/../../x", ""])
def test_keys_cannot_leave_the_data_directory(tmp_path: Path, key: str) -> None:
    with pytest.raises(ValueError, match="storage key"):
        OutputStorage(tmp_path).path_of(key)


def test_start_up_sweeps_abandoned_uploads_but_not_fresh_ones(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    storage.prepare()
    abandoned, fresh = storage.new_temp_path(), storage.new_temp_path()
    abandoned.write_bytes(b"half an upload")
    fresh.write_bytes(b"arriving now")
    two_hours_ago = time.time() - 7200
    os.utime(abandoned, (two_hours_ago, two_hours_ago))
    storage.prepare()
    assert not abandoned.exists()
    assert fresh.exists()
