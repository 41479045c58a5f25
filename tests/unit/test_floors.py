"""The producer's three floors (DEVELOPERS.md, "Layout"): what drives the use cases, the use
cases and the job's view, and what they drive. Nothing imports a floor above its own, and the
use cases import no web framework, broker client or database toolkit."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[2] / "producer_service"

# Each top-level module or folder of the producer, by floor (2: top, 1: middle, 0: bottom).
FLOORS = {
    **dict.fromkeys(["api", "consumers", "background", "cli"], 2),
    **dict.fromkeys(["app", "asgi", "__main__", "wiring"], 2),
    **dict.fromkeys(["jobs", "webhooks", "views", "submissions", "cancels"], 1),
    **dict.fromkeys(["db", "broker", "callbacks", "staging", "metrics", "records"], 0),
    **dict.fromkeys(["callers", "errors", "tokens", "presets", "transitions", "forms"], 0),
    **dict.fromkeys(["source_urls", "url_fields"], 0),
}
EDGE_LIBRARIES = ("fastapi", "starlette", "aio_pika", "aiormq", "sqlalchemy")


def modules() -> list[Path]:
    """Every module but the package's own `__init__` (on no floor) and the migrations."""
    return sorted(
        path
        for path in PACKAGE.rglob("*.py")
        if "migrations" not in path.parts and path != PACKAGE / "__init__.py"
    )


def room(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def imported(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
    return names


def test_every_room_of_the_producer_is_on_a_floor() -> None:
    assert {room(path) for path in modules()} == set(FLOORS)


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_nothing_imports_a_floor_above_its_own(path: Path) -> None:
    floor = FLOORS[room(path)]
    above = [
        name
        for name in imported(path)
        if name.startswith("producer_service.") and FLOORS[name.split(".")[1]] > floor
    ]
    assert above == []


@pytest.mark.parametrize(
    "path", [p for p in modules() if FLOORS.get(room(p)) == 1], ids=lambda p: p.name
)
def test_the_use_cases_import_no_web_framework_broker_client_or_database_toolkit(
    path: Path,
) -> None:
    edges = [name for name in imported(path) if name.split(".")[0] in EDGE_LIBRARIES]
    assert edges == []
