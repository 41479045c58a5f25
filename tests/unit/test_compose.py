"""What an operator relies on in compose.yaml and the Dockerfile (`docker-compose config` parses
the file in CI; these check what it cannot)."""

import re
import shutil
import subprocess
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


def test_every_service_but_a_one_shot_has_a_healthcheck(services: dict[str, Any]) -> None:
    one_shots = {name for name, service in services.items() if service.get("restart") == "no"}
    assert one_shots == {"minio-bucket"}
    assert all("healthcheck" in services[name] for name in services.keys() - one_shots)


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
    # `$${...}` is the container shell's own variable, not compose's.
    assert set(re.findall(r"(?<!\$)\$\{(\w+)", compose)) <= named


def test_the_postgres_profile_adds_a_store_with_a_volume_a_healthcheck_and_no_password(
    services: dict[str, Any],
) -> None:
    postgres = services["postgres"]
    assert postgres["profiles"] == ["postgres"]
    assert any(str(v).endswith(":/var/lib/postgresql/data") for v in postgres["volumes"])
    assert "pg_isready" in postgres["healthcheck"]["test"]
    assert postgres["environment"]["POSTGRES_PASSWORD"].startswith("${")
    assert services["api"]["environment"]["DATABASE_URL"] == "${DATABASE_URL:-}"


S3_VARIABLES = ["STORAGE_URL", "S3_ENDPOINT_URL", "AWS_REGION", "AWS_ACCESS_KEY_ID"]


def test_the_s3_profile_adds_minio_with_a_volume_a_healthcheck_and_the_bucket(
    services: dict[str, Any],
) -> None:
    minio, bucket = services["minio"], services["minio-bucket"]
    assert minio["profiles"] == bucket["profiles"] == ["s3"]
    assert minio["image"].startswith("minio/minio:")
    assert any(str(volume).endswith(":/data") for volume in minio["volumes"])
    assert minio["healthcheck"]["test"] == ["CMD", "mc", "ready", "local"]
    # Only the profile needs its admin, and MinIO must not start with its default one.
    assert minio["environment"]["MINIO_ROOT_PASSWORD"] == "${MINIO_ROOT_PASSWORD:-}"
    assert '[ -z "$$MINIO_ROOT_PASSWORD" ]' in minio["entrypoint"][-1]
    assert minio["entrypoint"][-1].rstrip().endswith("exec minio server /data")
    assert bucket["depends_on"]["minio"]["condition"] == "service_healthy"
    assert bucket["environment"]["STORAGE_URL"] == "${STORAGE_URL:-}"
    assert "mc mb --ignore-existing" in bucket["entrypoint"][-1]


def test_api_and_worker_read_storage_from_env_and_default_to_the_data_volume(
    services: dict[str, Any],
) -> None:
    for name in ("api", "worker"):
        env = services[name]["environment"]
        for variable in [*S3_VARIABLES, "AWS_SECRET_ACCESS_KEY"]:
            assert env[variable] == f"${{{variable}:-}}"  # empty in .env: unset
    example = (ROOT / ".env.example").read_text()
    assert all(re.search(rf"^{name}=$", example, re.MULTILINE) for name in S3_VARIABLES)


def stub(folder: Path, name: str, script: str) -> None:
    path = folder / name
    path.write_text(f"#!/bin/bash\n{script}\n")
    path.chmod(0o755)


def compose_check_without_docker_compose(folder: Path, *, debian: bool) -> tuple[int, str]:
    """`make compose-check` (its virtualenv taken as made) where PATH holds no docker-compose,
    on a Debian machine whose apt-get finds nothing, or on one without apt-get."""
    folder.mkdir()
    (folder / "bash").symlink_to("/bin/bash")  # scripts/*.sh start with `/usr/bin/env bash`
    stub(folder, "dpkg-query", "exit 1")  # no package installed
    stub(folder, "id", "echo 0")  # root: apt-get runs without sudo
    if debian:
        stub(folder, "apt-get", f'echo "$*" >> {folder}/apt-get.log; exit 100')
    make = shutil.which("make")
    assert make is not None
    done = subprocess.run(
        [make, "--no-print-directory", "-o", ".venv/.installed", "compose-check"],
        cwd=ROOT,
        env={"PATH": str(folder)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def test_compose_check_installs_docker_compose_without_the_docker_engine(tmp_path: Path) -> None:
    status, printed = compose_check_without_docker_compose(tmp_path / "bin", debian=True)

    assert status != 0
    assert "Installing Debian packages: docker-compose" in printed
    tries = (tmp_path / "bin" / "apt-get.log").read_text().splitlines()
    install = "install -y -qq --no-install-recommends docker-compose"
    assert tries == [install, "update -qq"]  # the update finds nothing here either


def test_compose_check_says_what_to_install_off_debian(tmp_path: Path) -> None:
    status, printed = compose_check_without_docker_compose(tmp_path / "bin", debian=False)

    assert status != 0
    assert "Needs docker-compose, and this is not a Debian/Ubuntu machine" in printed
