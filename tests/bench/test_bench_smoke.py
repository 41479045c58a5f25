"""`python -m bench --smoke` end to end against the test broker: every section prints numbers."""

import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support import TEST_AMQP_URL, TEST_POSTGRES_URL

ROOT = Path(__file__).resolve().parents[2]
# (section, how the measure's name starts): at least one row each, with a number.
EXPECTED = [
    ("limits", "naive loop"),
    ("limits", "own loop"),
    ("service", "throughput"),
    ("service", "service / naive loop"),
    ("service", "service / own loop"),
    *(
        ("latency", f"submit {state} {p}")
        for state in ("idle", "busy")
        for p in ("p50", "p95", "p99")
    ),
    ("ceiling", "throughput"),
    *(("steady", f"job time {p}") for p in ("p50", "p95")),
    ("steady", "longest job time"),
    ("steady", "worker cores busy"),
    ("memory", "worker peak RSS"),
    ("memory", "worker RSS after"),
    ("memory", "RSS growth"),
    ("bombs", "worker RSS at rest"),
    ("bombs", "PNG"),
    ("bombs", "interlaced PNG"),
    ("bombs", "all at once"),
    ("encoders", "worker RSS at rest"),
    *(("encoders", f"{fmt} ") for fmt in ("AVIF", "WEBP", "JPEG", "PNG")),
    ("encoders", "all at once"),
    *(
        ("api", f"{phase}: {measure}")
        for phase in ("submit", "status")
        for measure in ("API CPU per request", "requests per API core", "requests a second", "p95")
    ),
    ("api", "events: API CPU per request"),
    *(
        ("api", f"{phase}: PostgreSQL {counted} per request")
        for phase in ("submit", "events", "status")
        for counted in ("commits", "rollbacks", "rows written")
    ),
    *(
        ("broker", f"{measure}, {queue_type} queue, {in_flight} in flight")
        for measure in ("confirms a second", "confirm p95", "publisher CPU per confirm")
        for queue_type in ("classic", "quorum")
        for in_flight in (1, 32)
    ),
    *(
        ("lanes", f"interactive {p}, {state}")
        for p in ("p50", "p95")
        for state in ("idle", "behind")
    ),
    ("lanes", "interactive p95 behind bulk / idle"),
    *(("lanes", f"bulk throughput {run}") for run in ("alone", "with interactive", "with / alone")),
    ("lanes", "key A's jobs done before key B's last"),
    *(("tracing", f"{figure}, on / off") for figure in ("throughput", "submit p99")),
    ("tracing", "spans received"),
]
ROW = re.compile(r"^\| (?P<section>\w+) \| (?P<measure>[^|]+?) \| (?P<value>[^|]+?) \|")


# Every section, `api` on PostgreSQL (waiting 0.5 s, not 10, for its statistics: bench/postgres.py).
@pytest.mark.timeout(240)
def test_smoke_run_prints_every_section_with_numbers(tmp_path: Path) -> None:
    table = tmp_path / "bench.md"
    servers = ["--amqp-url", TEST_AMQP_URL, "--postgres-url", TEST_POSTGRES_URL]
    finished = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", *servers, "--output", table],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert finished.stdout == table.read_text()
    rows = [match.groupdict() for match in map(ROW.match, finished.stdout.splitlines()) if match]
    for section, measure in EXPECTED:
        values = [
            row["value"]
            for row in rows
            if row["section"] == section and row["measure"].startswith(measure)
        ]
        assert values, f"no row {section} / {measure} in:\n{finished.stdout}"
        assert all(re.fullmatch(r"\d+(\.\d+)?", value) for value in values), values
    assert finished.stdout.startswith("machine: ")


@pytest.mark.timeout(60)
def test_broker_publishes_to_the_first_node_when_the_url_lists_a_cluster() -> None:
    """The same command runs against a three-node cluster: AMQP_URL's comma-separated form."""
    nowhere = "amqp://guest:guest@127.0.0.1:9/"  # the discard port: nothing speaks AMQP there
    first = urlsplit(TEST_AMQP_URL)
    finished = subprocess.run(
        [
            *(sys.executable, "-m", "bench", "--smoke", "--only", "broker"),
            *("--amqp-url", f"{TEST_AMQP_URL},{nowhere}"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=45,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    confirms = [line for line in finished.stdout.splitlines() if "| confirms a second," in line]
    assert len(confirms) == 4, finished.stdout
    assert all(f"to node {first.hostname}:{first.port or 5672}," in line for line in confirms)
