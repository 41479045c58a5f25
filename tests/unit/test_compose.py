"""What an operator relies on in compose.yaml and the Dockerfile (`docker-compose config` parses
the file in CI; these check what it cannot)."""

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services: dict[str, Any] = compose["services"]
    return services


def seconds(duration: str) -> float:
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration)
    assert parts, duration
    return sum(float(value) * units[unit] for value, unit in parts)


def test_rabbitmq_has_the_management_ui_a_volume_and_a_healthcheck(
    services: dict[str, Any],
) -> None:
    rabbit = services["rabbitmq"]
    assert "management" in rabbit["image"]
    assert any(str(volume).endswith(":/var/lib/rabbitmq") for volume in rabbit["volumes"])
    assert "healthcheck" in rabbit


def test_api_and_worker_are_one_image_with_two_exec_form_commands(
    services: dict[str, Any],
) -> None:
    api, worker = services["api"], services["worker"]
    assert api["image"] == worker["image"]
    assert api["build"] == worker["build"]
    assert api["command"] == ["python", "-m", "producer_service"]
    assert worker["command"] == ["python", "-m", "worker_service"]


def test_workers_can_scale(services: dict[str, Any]) -> None:
    worker = services["worker"]
    assert "ports" not in worker
    assert "container_name" not in worker


def test_every_service_has_a_healthcheck(services: dict[str, Any]) -> None:
    assert all("healthcheck" in service for service in services.values())


def test_api_and_worker_share_data_and_settings(services: dict[str, Any]) -> None:
    api, worker = services["api"], services["worker"]
    assert set(api["volumes"]) == set(worker["volumes"])
    shared = set(api["environment"]) & set(worker["environment"])
    assert {"AMQP_URL", "QUEUE_NAME", "DATA_DIR", "MAX_ATTEMPTS"} <= shared
    assert all(api["environment"][name] == worker["environment"][name] for name in shared)
    names = {name.upper() for name in Settings.model_fields} | {"CLOUDAMQP_URL"}
    assert set(api["environment"]) | set(worker["environment"]) <= names


def test_a_stopping_worker_has_time_to_drain(services: dict[str, Any]) -> None:
    worker = services["worker"]
    env = worker["environment"]
    grace = seconds(worker["stop_grace_period"])
    assert grace > float(env["SHUTDOWN_TIMEOUT_SECONDS"])
    assert grace > float(env["JOB_TIMEOUT_SECONDS"])
    assert float(env["SHUTDOWN_TIMEOUT_SECONDS"]) >= float(env["JOB_TIMEOUT_SECONDS"])


def test_the_image_runs_as_a_non_root_user_with_an_exec_form_command() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.MULTILINE)
    assert users
    assert users[-1] not in ("root", "0")
    assert re.search(r'^CMD\s+\["python", "-m", "producer_service"\]', dockerfile, re.MULTILINE)


def test_credentials_come_from_the_environment_and_env_example_names_them() -> None:
    compose = (ROOT / "compose.yaml").read_text()
    assert "guest" not in compose
    required = set(re.findall(r"\$\{(\w+):\?", compose))
    assert {"RABBITMQ_USER", "RABBITMQ_PASSWORD"} <= required
    example = (ROOT / ".env.example").read_text()
    named = set(re.findall(r"^(\w+)=", example, flags=re.MULTILINE))
    assert set(re.findall(r"\$\{(\w+)", compose)) <= named


def test_the_postgres_profile_adds_a_store_with_a_volume_a_healthcheck_and_no_password(
    services: dict[str, Any],
) -> None:
    postgres = services["postgres"]
    assert postgres["profiles"] == ["postgres"]
    assert any(str(v).endswith(":/var/lib/postgresql/data") for v in postgres["volumes"])
    assert "pg_isready" in postgres["healthcheck"]["test"]
    assert postgres["environment"]["POSTGRES_PASSWORD"].startswith("${")
    assert services["api"]["environment"]["DATABASE_URL"] == "${DATABASE_URL:-}"
