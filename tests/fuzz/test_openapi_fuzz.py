"""schemathesis against the live `/openapi.json` of the API started as an operator starts it
(`python -m producer_service`, with a worker, on the real broker), with API keys off and on:
no 5xx, and no answer that breaks the document (status, content type, headers, body schema,
`Allow`), for requests made from the schema and requests that break it.

Bounded for CI (`--max-examples`, about 10 s a run); the seed is printed on a failure, and
`st run ... --seed N` replays it. One check is left out: `positive_data_acceptance` expects
every schema-valid request to succeed, but a schema-valid `file` is any bytes (415 unless
they are an image) and a schema-valid `cursor` any string (422 unless the API handed it out).
"""

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import SecretStr

from shared.settings import Settings
from tests.client import ApiClient
from tests.support import free_port, service_env, started, stop, wait_for

KEY = "fuzz-key-0123456789"
MAX_EXAMPLES = 40


@pytest.mark.timeout(180)
@pytest.mark.parametrize("keys_on", [False, True], ids=["keys-off", "keys-on"])
async def test_schemathesis_finds_no_5xx_and_no_answer_outside_the_schema(
    broker_settings: Callable[..., Settings], tmp_path: Path, keys_on: bool
) -> None:
    port = free_port()
    keys = {"api_keys": SecretStr(KEY)} if keys_on else {}
    env = service_env(broker_settings(port=port, **keys))
    log = tmp_path / "api.log"
    # A worker too: a job's event stream ends only once the job has.
    with (
        started("producer_service", env, log) as api,
        started("worker_service", env, tmp_path / "worker.log") as worker,
    ):
        async with ApiClient.at(port) as client:
            await wait_for(client.is_ready, within=30, what="the API to be ready")
        command = [
            *(sys.executable, "-m", "schemathesis.cli", "run"),
            f"http://127.0.0.1:{port}/openapi.json",
            *("--checks", "all", "--exclude-checks", "positive_data_acceptance"),
            *("--max-examples", str(MAX_EXAMPLES), "--workers", "1"),
            *(("--header", f"Authorization: Bearer {KEY}") if keys_on else ()),
            # The same cases on every CI run, as for hypothesis (tests/conftest.py).
            *(("--seed", "8") if os.environ.get("HYPOTHESIS_PROFILE") == "ci" else ()),
        ]
        run = await asyncio.to_thread(
            subprocess.run,
            command,
            capture_output=True,
            text=True,
            timeout=150,
            cwd=tmp_path,
            check=False,
        )
        assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
        assert api.poll() is None, log.read_text()[-3000:]
        stop(api, log)
        stop(worker, tmp_path / "worker.log")
