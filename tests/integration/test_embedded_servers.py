"""Embedded PostgreSQL, NATS and Temporal: real processes, real clients, no mocks."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar
from urllib.parse import parse_qs, urlsplit

import nats
import psutil
import psycopg
import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, RegisterNamespaceRequest
from temporalio.client import Client

from libs.events.identities import OPERATOR, authorization
from talentledger.stack.broker_identities import ensure_identities
from talentledger.stack.servers import (
    EmbeddedNats,
    EmbeddedPostgres,
    EmbeddedTemporal,
    ServerError,
    free_port,
)
from tests.support import leftovers

Server = TypeVar("Server", EmbeddedPostgres, EmbeddedNats, EmbeddedTemporal)


@pytest.fixture
def make() -> Iterator[Callable[[type[Server], Path], Server]]:
    """Build servers and stop every one of them at teardown, even when the test failed."""
    created: list[EmbeddedPostgres | EmbeddedNats | EmbeddedTemporal] = []

    def factory(cls: type[Server], data_dir: Path) -> Server:
        server = cls(data_dir)
        created.append(server)
        return server

    yield factory
    errors = []
    for server in reversed(created):
        try:
            server.stop()
        except Exception as exc:  # noqa: BLE001 - stop the others, report all
            errors.append(exc)
    assert not errors, errors


@pytest.fixture
def pg_home() -> Iterator[Path]:
    """Where a test's PostgreSQL keeps its data: outside pytest's tmp dirs, because the
    server runs as its own system user and another pytest run starting on this machine makes
    those private to root again (as tests/conftest.py's `server_dir`). Tests ask for it
    before `make`, so it is removed after `make` stops the servers: a server stopped later
    would make its directory again for its lock file."""
    path = leftovers.claimed_directory()
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_free_port_is_bindable_on_loopback():
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_postgres_keeps_data_across_restart(pg_home, make):
    pg = make(EmbeddedPostgres, pg_home / "postgres")
    assert not pg.is_running()
    assert pg.url is None

    url = pg.start()
    assert url.startswith("postgresql://postgres@127.0.0.1:")
    assert urlsplit(url).path == "/talentledger"
    assert pg.start() == url  # idempotent
    assert pg.url == url
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE people (id int PRIMARY KEY, name text NOT NULL)")
        conn.execute("INSERT INTO people VALUES (1, 'Ada')")

    pg.stop()
    assert not pg.is_running()
    assert pg.pid is None
    pg.stop()  # idempotent

    assert pg.start() == url  # same port again
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT name FROM people WHERE id = 1").fetchone() == ("Ada",)


def test_postgres_wants_a_password_over_tcp_even_on_a_cluster_made_with_trust(pg_home, make):
    pg = make(EmbeddedPostgres, pg_home / "postgres")
    url = pg.start()
    passfile = Path(parse_qs(urlsplit(url).query)["passfile"][0])
    assert passfile.stat().st_mode & 0o777 == 0o600
    anonymous = url.split("?", 1)[0]
    trusting = "local all all trust\nhost all all 127.0.0.1/32 trust\n"
    pg.stop()
    # As clusters initialised before passwords were required: trust for everyone.
    (pg.pgdata / "pg_hba.conf").write_text(trusting)
    for restart in (True, False):
        assert pg.start() == url
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(anonymous, connect_timeout=5).close()
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT current_user").fetchone() == ("postgres",)
        if restart:
            # A running cluster whose pg_hba.conf was changed is corrected by the next start.
            (pg.pgdata / "pg_hba.conf").write_text(trusting)
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("SELECT pg_reload_conf()")


def test_postgres_is_found_and_stopped_by_another_instance(pg_home, make):
    # Long enough that the unix socket cannot live in the data dir.
    data_dir = pg_home / ("d" * 60) / "postgres"
    pg = make(EmbeddedPostgres, data_dir)
    url = pg.start()

    other = make(EmbeddedPostgres, data_dir)
    assert other.is_running()
    assert other.url == url
    assert other.pid == pg.pid is not None
    assert other.start() == url  # no second server
    other.stop()
    assert not pg.is_running()
    assert pg.url is None


def test_postgres_start_on_busy_port_fails_clearly(pg_home, make):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(ServerError, match="in use"):
            make(EmbeddedPostgres, pg_home / "postgres").start(port=port)


def test_postgres_start_failure_reports_log_tail(pg_home, make):
    pg = make(EmbeddedPostgres, pg_home / "postgres")
    pg.start()
    pg.stop()
    with (pg.pgdata / "postgresql.conf").open("a") as conf:
        conf.write("\nnot_a_real_setting = 1\n")
    with pytest.raises(
        ServerError, match='unrecognized configuration parameter "not_a_real_setting"'
    ):
        pg.start(timeout=20)
    assert not pg.is_running()


async def _connects(url: str, seed: Path | None = None) -> bool:
    try:
        client = await nats.connect(
            url, nkeys_seed=str(seed) if seed else None, allow_reconnect=False, connect_timeout=5
        )
    except nats.errors.Error:
        return False
    await client.close()
    return True


async def test_nats_with_users_refuses_strangers_and_reloads_a_changed_list(make, tmp_path):
    server = make(EmbeddedNats, tmp_path / "nats")
    url = server.start()
    assert await _connects(url), "without an authorization block anyone connects"
    keys = ensure_identities(tmp_path / "keys", ("alice", "bob"))
    alice, bob = keys["alice"], keys["bob"]

    server.authorization = authorization([(alice.public_key, OPERATOR)])
    assert server.start() == url, "restarted with users, on the same port"
    assert stat.S_IMODE(server.config_file.stat().st_mode) == 0o600
    assert not await _connects(url)
    assert await _connects(url, alice.path)
    assert not await _connects(url, bob.path)

    pid = server.pid
    server.authorization = authorization([(k.public_key, OPERATOR) for k in (alice, bob)])
    assert server.start() == url
    assert server.pid == pid, "a changed user list is reloaded, not restarted"
    for _ in range(50):  # the reload is asynchronous
        if await _connects(url, bob.path):
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("bob was never let in after the reload")


async def test_nats_jetstream_keeps_messages_across_restart(make, tmp_path):
    server = make(EmbeddedNats, tmp_path / "nats")
    port = free_port()
    url = server.start(port=port)
    assert url == f"nats://127.0.0.1:{port}"
    assert server.monitor_url is not None
    assert server.start() == url

    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        await js.add_stream(name="EVENTS", subjects=["events.>"])
        ack = await js.publish("events.hired", b"ada")
    finally:
        await nc.close()

    server.stop()
    assert not server.is_running()
    assert server.url is None
    assert server.monitor_url is None

    assert server.start() == url
    nc = await nats.connect(url)
    try:
        msg = await nc.jetstream().get_msg("EVENTS", ack.seq)
        assert msg.data == b"ada"
    finally:
        await nc.close()


def test_nats_is_found_and_stopped_by_another_process(make, tmp_path):
    data_dir = tmp_path / "nats"
    server = make(EmbeddedNats, data_dir)
    url = server.start()
    pid = server.pid

    # A separate interpreter, as `talentledger down` would be.
    script = (
        "import sys; from pathlib import Path;"
        "from talentledger.stack.servers import EmbeddedNats;"
        "s = EmbeddedNats(Path(sys.argv[1]));"
        "print(s.is_running(), s.url, s.pid); s.stop(); print(s.is_running())"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(data_dir)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.split()
    assert out == ["True", url, str(pid), "False"]
    assert not server.is_running()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_nats_recovers_from_crash_and_ignores_recycled_pid(make, tmp_path):
    server = make(EmbeddedNats, tmp_path / "nats")
    url = server.start()
    pid = server.pid
    os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(psutil.NoSuchProcess):
        psutil.Process(pid).wait(10)
    assert not server.is_running()

    # A live process that is not nats-server behind the recorded pid must not count.
    state = json.loads(server.state_file.read_text())
    state["pid"] = os.getpid()
    server.state_file.write_text(json.dumps(state))
    assert not server.is_running()
    assert server.url is None

    assert server.start() == url
    assert server.is_running()


async def test_temporal_serves_and_restarts_on_same_db(make, tmp_path):
    server = make(EmbeddedTemporal, tmp_path / "temporal")
    address = server.start()
    assert address.startswith("127.0.0.1:")
    assert server.ui_url is not None
    assert server.ui_url.startswith("http://127.0.0.1:")
    assert server.start() == address

    client = await Client.connect(address)
    default = await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace="default")
    )
    assert default.namespace_info.name == "default"
    await client.workflow_service.register_namespace(
        RegisterNamespaceRequest(
            namespace="persisted", workflow_execution_retention_period=Duration(seconds=86400)
        )
    )

    server.stop()
    assert not server.is_running()
    assert server.ui_url is None

    assert server.start() == address
    client = await Client.connect(address)
    persisted = await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace="persisted")
    )
    assert persisted.namespace_info.name == "persisted"


def test_temporal_is_found_and_stopped_by_another_instance(make, tmp_path):
    server = make(EmbeddedTemporal, tmp_path / "temporal")
    address = server.start()

    other = make(EmbeddedTemporal, tmp_path / "temporal")
    assert other.is_running()
    assert other.url == address
    assert other.pid == server.pid is not None
    other.stop()
    assert not server.is_running()


def test_a_server_whose_port_is_taken_before_it_binds_starts_again_on_other_ports(
    make, tmp_path, monkeypatch
):
    """Ports are chosen free and bound by the server a moment later: when another process
    takes one in between, the server is started again on fresh ports (servers.py, start)."""
    import talentledger.stack.servers as servers

    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        taken = other.getsockname()[1]
        pick = servers._pick_ports
        picks: list[dict[str, int]] = []

        def first_one_taken(names, previous, given):
            chosen = pick(names, previous, given)
            if not picks:
                chosen[names[0]] = taken
            picks.append(chosen)
            return chosen

        monkeypatch.setattr(servers, "_pick_ports", first_one_taken)
        server = make(EmbeddedNats, tmp_path / "nats")
        url = server.start()
    assert len(picks) == 2, picks
    assert url == f"nats://127.0.0.1:{picks[1]['port']}"
    assert picks[1]["port"] != taken
    assert server.is_running()


def test_a_server_whose_port_answers_for_another_process_starts_again(make, tmp_path, monkeypatch):
    """Readiness checks can pass against another process holding the port: the server
    started must itself listen there, else it is stopped and started on fresh ports."""
    import talentledger.stack.servers as servers

    listens = servers._listens
    pids: list[int] = []

    def first_one_elsewhere(pid: int, port: int) -> bool:
        pids.append(pid)
        return listens(pid, port) and len(pids) > 1

    monkeypatch.setattr(servers, "_listens", first_one_elsewhere)
    server = make(EmbeddedNats, tmp_path / "nats")
    server.start()
    assert len(pids) == 2, pids
    assert not psutil.pid_exists(pids[0]) or psutil.Process(pids[0]).status() == "zombie"
    assert server.pid == pids[1]


def test_a_process_listens_on_the_ports_of_its_listening_sockets_only():
    import talentledger.stack.servers as servers

    with socket.socket() as listening, socket.socket() as bound:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        bound.bind(("127.0.0.1", 0))
        assert servers._listens(os.getpid(), listening.getsockname()[1])
        assert not servers._listens(os.getpid(), bound.getsockname()[1])
