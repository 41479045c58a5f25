"""Helpers for tests: settings of a test's own, the services in process and as processes, a
view of the broker, waiting with a deadline, and what a test reads behind the API's back.
The API over an in-memory broker is `tests.support.served`, private servers
`tests.support.private_nodes`."""

from tests.support.databases import EmptyDatabase
from tests.support.environment import (
    ALICE,
    ALICE_NEXT,
    BOB,
    TEST_AMQP_URL,
    TEST_POSTGRES_URL,
    delete_queues,
    make_settings,
    require_broker,
)
from tests.support.inspection import (
    add_stranded_job,
    exchange,
    expired_token,
    job_count,
    multipart_request,
    originals,
    output_path,
    stored_keys,
)
from tests.support.probe import BrokerProbe
from tests.support.processes import (
    ROOT,
    exit_code,
    free_port,
    json_lines,
    launched,
    logged,
    service_env,
    started,
    stop,
)
from tests.support.running import running_api, running_worker, serving
from tests.support.waiting import wait_for

__all__ = [
    "ALICE",
    "ALICE_NEXT",
    "BOB",
    "ROOT",
    "TEST_AMQP_URL",
    "TEST_POSTGRES_URL",
    "BrokerProbe",
    "EmptyDatabase",
    "add_stranded_job",
    "delete_queues",
    "exchange",
    "exit_code",
    "expired_token",
    "free_port",
    "job_count",
    "json_lines",
    "launched",
    "logged",
    "make_settings",
    "multipart_request",
    "originals",
    "output_path",
    "require_broker",
    "running_api",
    "running_worker",
    "service_env",
    "serving",
    "started",
    "stop",
    "stored_keys",
    "wait_for",
]
