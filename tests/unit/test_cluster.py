"""AMQP_URL as a list of a cluster's nodes: parsing, the order nodes are tried in, and what a
failed round of tries is called. No broker: the nodes here are ports nothing listens on."""

import asyncio
import logging
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from aio_pika.connection import make_url
from pydantic import ValidationError

from shared.cluster import ClusterConnection, node_of
from shared.connection import connect_and_set_up, round_reason
from shared.settings import Settings
from tests.support import wait_for


def test_amqp_url_may_list_a_clusters_nodes_kept_in_their_order() -> None:
    settings = Settings(
        _env_file=None, amqp_url="amqp://u:p@node2:5673/, amqp://u:p@node1:5672/,amqps://u:p@n3/"
    )
    assert settings.amqp_urls == (
        "amqp://u:p@node2:5673/",
        "amqp://u:p@node1:5672/",
        "amqps://u:p@n3/",
    )
    assert [node_of(url) for url in settings.amqp_urls] == ["node2:5673", "node1:5672", "n3:5671"]


def test_one_url_is_one_node(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDAMQP_URL", "amqps://u:p@cloud/vhost")
    assert Settings(_env_file=None).amqp_urls == ("amqps://u:p@cloud/vhost",)


@pytest.mark.parametrize(
    ("value", "entry"),
    [
        ("amqp://u:secret@node1:5672/,http://u:secret@node2:5672/", 2),
        ("amqp://u:secret@node1:port/", 1),
        ("amqp://u:secret@node1/,amqp://u:secret@/", 2),
        ("node1:5672", 1),
    ],
)
def test_a_bad_entry_is_a_settings_error_naming_it_without_its_password(
    value: str, entry: int
) -> None:
    with pytest.raises(ValidationError) as error:
        Settings(_env_file=None, amqp_url=value)
    assert f"AMQP_URL entry {entry} " in str(error.value)
    assert "secret" not in str(error.value)


def test_an_empty_list_is_a_settings_error() -> None:
    with pytest.raises(ValidationError, match="AMQP_URL is empty"):
        Settings(_env_file=None, amqp_url=" , ")


def test_a_round_with_a_login_refused_is_a_login_refused_however_many_nodes_are_down() -> None:
    assert round_reason(["unreachable", "login refused", "unreachable"]) == "login refused"
    assert round_reason(["unreachable", "unreachable"]) == "unreachable"


@contextmanager
def closed_ports(count: int) -> Iterator[list[int]]:
    """Ports on 127.0.0.1 that refuse connections: bound, never listening, held meanwhile."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        yield [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


async def test_a_robust_connection_goes_round_the_nodes_from_the_one_after_the_first() -> None:
    """What ClusterConnection relies on in aio-pika: every failed try to connect passes through
    `_on_connection_close`, and the next try reads `url` anew."""
    with closed_ports(3) as ports:
        urls = [
            make_url(f"amqp://guest:guest@127.0.0.1:{port}/", reconnect_interval=0.02, fail_fast=0)
            for port in ports
        ]
        connection = ClusterConnection(urls, first=1)
        tried: list[str] = []  # the node of each failed try, as its close callbacks see it
        connection.close_callbacks.add(lambda *_: tried.append(connection.node))

        async def every_node_tried_twice() -> bool:
            return len(tried) >= 6

        trying = asyncio.create_task(connection.connect(timeout=1))
        try:
            await wait_for(every_node_tried_twice, what="tries on every node")
        finally:
            trying.cancel()
            await connection.close()
            await asyncio.gather(trying, return_exceptions=True)
    order = [f"127.0.0.1:{ports[n]}" for n in (1, 2, 0)]
    assert tried[:6] == [*order, *order]


async def test_start_up_tries_each_node_in_turn_and_backs_off_only_after_a_whole_round(
    caplog: pytest.LogCaptureFixture,
) -> None:
    reasons: list[str] = []
    stop = asyncio.Event()

    def failed(reason: str) -> None:
        reasons.append(reason)
        if len(reasons) == 3:
            stop.set()

    async def set_up(_: object) -> None:
        raise AssertionError("no node answers")

    with closed_ports(2) as ports, caplog.at_level(logging.WARNING, logger="shared.connection"):
        urls = [f"amqp://guest:secret@127.0.0.1:{port}/" for port in ports]
        assert await connect_and_set_up(urls, "test", set_up, stop, failed) is None
    tries = [r.getMessage() for r in caplog.records if r.name == "shared.connection"]
    first, second = (f"127.0.0.1:{port}" for port in ports)
    assert tries[0].startswith(f"broker connect failed at {first}: unreachable")
    assert tries[0].endswith(f"; trying {second}")
    assert tries[1].startswith(f"broker connect failed at {second}: unreachable")
    assert "; trying again in " in tries[1]
    assert tries[2].startswith(f"broker connect failed at {first}: ")
    assert reasons == ["unreachable"] * 3
    assert "secret" not in caplog.text
