"""The rules a client's `variants` must follow, and the message bodies on the broker."""

import uuid
from typing import Any

import pytest
from pydantic import ValidationError

from shared.messages import EventKind, JobEvent, ResizeTask
from shared.variants import DEFAULT_VARIANTS, MAX_VARIANTS, Variant, variant_list_adapter


def test_a_variant_gets_the_documented_defaults() -> None:
    variant = Variant.model_validate({"name": "thumb", "width": 320})
    assert variant.model_dump(mode="json") == {
        "name": "thumb",
        "width": 320,
        "height": None,
        "fit": "contain",
        "crop": "centre",
        "format": "jpeg",
        "quality": 80,
        "upscale": False,
    }


@pytest.mark.parametrize("name", ["a", "thumb", "x-1", "hd_1080", "0", "a" * 32])
def test_valid_names_are_accepted(name: str) -> None:
    assert Variant(name=name, width=10).name == name


@pytest.mark.parametrize("name", ["", "A", "-a", "_a", "a b", "a.b", "é", "a" * 33, "a/b"])
def test_invalid_names_are_refused(name: str) -> None:
    with pytest.raises(ValidationError):
        Variant(name=name, width=10)


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"width": 0},
        {"height": 8193},
        {"width": -5},
        {"width": 10, "fit": "stretch"},
        {"width": 10, "crop": "middle"},
        {"width": 10, "format": "gif"},
        {"width": 10, "quality": 0},
        {"width": 10, "quality": 101},
        {"width": 10, "upscale": "maybe"},
        {"width": 10, "widht": 20},
    ],
)
def test_bad_variant_fields_are_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Variant.model_validate({"name": "v", **fields})


def test_sides_up_to_8192_are_accepted() -> None:
    assert Variant(name="v", width=8192, height=1).width == 8192


def test_a_list_of_variants_needs_unique_names() -> None:
    with pytest.raises(ValidationError, match="repeated: a"):
        variant_list_adapter.validate_python([{"name": "a", "width": 1}, {"name": "a", "width": 2}])


def test_a_list_holds_one_to_ten_variants() -> None:
    many = [{"name": f"v{i}", "width": 10} for i in range(MAX_VARIANTS + 1)]
    assert len(variant_list_adapter.validate_python(many[:MAX_VARIANTS])) == MAX_VARIANTS
    with pytest.raises(ValidationError):
        variant_list_adapter.validate_python(many)
    with pytest.raises(ValidationError):
        variant_list_adapter.validate_python([])


def test_the_default_variants_are_a_valid_list() -> None:
    assert variant_list_adapter.validate_python(list(DEFAULT_VARIANTS))


def test_a_task_round_trips_through_json_and_counts_attempts() -> None:
    task = ResizeTask(
        job_id=uuid.uuid4(), source_key="originals/x", variants=list(DEFAULT_VARIANTS)
    )
    again = ResizeTask.model_validate_json(task.model_dump_json())
    assert again == task
    assert again.attempt == 1
    assert again.next_attempt().attempt == 2


def test_a_message_of_an_unknown_version_is_refused() -> None:
    body = {"version": 2, "job_id": str(uuid.uuid4()), "source_key": "k", "variants": []}
    with pytest.raises(ValidationError):
        ResizeTask.model_validate(body)


def test_an_event_routes_by_its_kind() -> None:
    event = JobEvent(job_id=uuid.uuid4(), run=1, attempt=1, kind=EventKind.SUCCEEDED)
    assert event.routing_key == "job.succeeded"
