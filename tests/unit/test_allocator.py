"""The worker caps glibc's malloc arenas unless the operator chose a number."""

import pytest

from worker_service.allocator import limit_malloc_arenas


def test_arenas_are_capped_on_glibc() -> None:
    assert limit_malloc_arenas()


def test_an_operators_malloc_arena_max_is_left_to_glibc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert not limit_malloc_arenas()
