"""Settings come from the environment, with the contract's names and defaults."""

from pathlib import Path

import pytest

from shared.settings import Settings, driver_url


def test_defaults_match_the_contract() -> None:
    settings = Settings(_env_file=None)
    assert settings.amqp_url == "amqp://guest:guest@localhost:5672/"
    assert settings.queue_name == "image_resize"
    assert settings.data_dir == Path("./data")
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.max_attempts == 5
    assert settings.job_timeout_seconds == 60
    assert settings.max_upload_bytes == 52428800
    assert settings.max_input_pixels == 100_000_000
    assert settings.worker_concurrency >= 1
    assert settings.metrics_port is None
    assert settings.log_format == "text"


def test_every_contract_variable_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env = {
        "AMQP_URL": "amqp://u:p@broker:5673/vh",
        "QUEUE_NAME": "thumbs",
        "DATA_DIR": str(tmp_path),
        "DATABASE_URL": "postgresql://db/jobs",
        "HOST": "0.0.0.0",
        "PORT": "9000",
        "WORKER_CONCURRENCY": "8",
        "MAX_ATTEMPTS": "3",
        "JOB_TIMEOUT_SECONDS": "12.5",
        "MAX_UPLOAD_BYTES": "1000",
        "MAX_INPUT_PIXELS": "2000",
        "METRICS_PORT": "9101",
        "LOG_FORMAT": "json",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings(_env_file=None)
    assert settings.amqp_url == env["AMQP_URL"]
    assert settings.queue_name == "thumbs"
    assert settings.data_dir == tmp_path
    assert settings.job_store_url == "postgresql+asyncpg://db/jobs"
    assert (settings.host, settings.port) == ("0.0.0.0", 9000)
    assert settings.worker_concurrency == 8
    assert settings.max_attempts == 3
    assert settings.job_timeout_seconds == 12.5
    assert settings.max_upload_bytes == 1000
    assert settings.max_input_pixels == 2000
    assert settings.metrics_port == 9101
    assert settings.log_format == "json"


def test_cloudamqp_url_is_used_only_when_amqp_url_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDAMQP_URL", "amqps://cloud/vhost")
    assert Settings(_env_file=None).amqp_url == "amqps://cloud/vhost"
    monkeypatch.setenv("AMQP_URL", "amqp://local/")
    assert Settings(_env_file=None).amqp_url == "amqp://local/"


def test_a_dotenv_file_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("QUEUE_NAME=from-dotenv\n")
    monkeypatch.chdir(tmp_path)
    assert Settings().queue_name == "from-dotenv"


def test_the_job_store_defaults_to_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path)
    assert settings.job_store_url == f"sqlite+pysqlite:///{tmp_path.resolve()}/jobs.db"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgres://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("sqlite:////tmp/x.db", "sqlite+pysqlite:////tmp/x.db"),
        ("sqlite+aiosqlite:////tmp/x.db", "sqlite+pysqlite:////tmp/x.db"),
    ],
)
def test_database_urls_get_the_stores_driver(url: str, expected: str) -> None:
    assert driver_url(url) == expected


@pytest.mark.parametrize(
    ("name", "value"), [("PORT", "70000"), ("WORKER_CONCURRENCY", "0"), ("QUEUE_NAME", "has space")]
)
def test_nonsense_values_are_refused(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=name.lower()):
        Settings(_env_file=None)


def test_an_empty_variable_is_unset_as_compose_passes_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "")
    monkeypatch.setenv("LOG_FORMAT", "")
    settings = Settings(_env_file=None)
    assert settings.database_url is None
    assert settings.log_format == "text"


def test_storage_defaults_to_data_dir_and_reads_the_s3_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings(_env_file=None).s3_location is None
    env = {
        "STORAGE_URL": "s3://images/resize/prod",
        "S3_ENDPOINT_URL": "http://minio:9000",
        "AWS_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI-secret",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings(_env_file=None)
    assert settings.s3_location == ("images", "resize/prod/")
    assert settings.s3_endpoint_url == "http://minio:9000"
    assert settings.aws_region == "eu-west-1"
    assert settings.aws_access_key_id == "AKIDEXAMPLE"
    assert settings.aws_secret_access_key is not None
    assert settings.aws_secret_access_key.get_secret_value() == env["AWS_SECRET_ACCESS_KEY"]
    assert env["AWS_SECRET_ACCESS_KEY"] not in repr(settings)


@pytest.mark.parametrize(
    ("url", "location"),
    [
        ("s3://images", ("images", "")),
        ("s3://images/", ("images", "")),
        ("s3://my.images-1/a/b/", ("my.images-1", "a/b/")),
        ("s3://images//a", ("images", "a/")),
    ],
)
def test_a_storage_url_names_a_bucket_and_a_prefix(url: str, location: tuple[str, str]) -> None:
    assert Settings(_env_file=None, storage_url=url).s3_location == location


@pytest.mark.parametrize(
    "url",
    [
        "/srv/images",  # a folder is DATA_DIR's job
        "file:///srv/images",
        "gs://images",
        "s3://",
        "s3://Images",  # S3 bucket names are lowercase
        "s3://ab",
        "s3://images/../other-prefix",
    ],
)
def test_anything_but_an_s3_url_is_refused_at_start(url: str) -> None:
    with pytest.raises(ValueError, match="STORAGE_URL"):
        Settings(_env_file=None, storage_url=url)


def test_an_s3_endpoint_must_be_an_http_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S3_ENDPOINT_URL", "minio:9000")
    with pytest.raises(ValueError, match="s3_endpoint_url"):
        Settings(_env_file=None)
