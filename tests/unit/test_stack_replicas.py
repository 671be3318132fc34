"""Several processes of a service on one address (`talentledger up --replicas`, README)."""

from __future__ import annotations

import asyncio
import errno
import fcntl
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from typer.testing import CliRunner

from libs.platform.runtime import http_socket
from libs.platform.settings import Settings
from talentledger.cli import app
from talentledger.stack.servers import ServerError
from talentledger.stack.supervisor import (
    ReplicaPlan,
    ServiceProcess,
    Stack,
    StackState,
    _port_free,
    plan_replicas,
)
from tests.support.leftovers import _kill_processes_of


def settings(**values: object) -> Settings:
    return Settings.model_validate({"TALENTLEDGER_HTTP_HOST": "127.0.0.1", **values})


def test_replicas_listening_with_reuse_port_share_the_port_and_others_do_not() -> None:
    first = http_socket(settings(TALENTLEDGER_HTTP_REUSE_PORT=True))
    port = first.getsockname()[1]
    second = http_socket(settings(TALENTLEDGER_HTTP_REUSE_PORT=True, TALENTLEDGER_HTTP_PORT=port))
    try:
        assert second.getsockname()[1] == port
        with pytest.raises(OSError, match="in use") as refused:
            http_socket(settings(TALENTLEDGER_HTTP_PORT=port))
        assert refused.value.errno == errno.EADDRINUSE
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass  # the kernel hands it to one of the two
    finally:
        first.close()
        second.close()


def test_a_replicas_socket_listens_at_once_and_leaves_no_address_to_others() -> None:
    """A socket bound but not listening, or one with SO_REUSEADDR beside SO_REUSEPORT, would
    let another user's SO_REUSEADDR socket take the address on Linux (runtime.http_socket)."""
    sock = http_socket(settings(TALENTLEDGER_HTTP_REUSE_PORT=True))
    try:
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) == 0
        port = sock.getsockname()[1]
        with socket.socket() as intruder:
            intruder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            with pytest.raises(OSError, match="in use") as refused:
                intruder.bind(("127.0.0.1", port))
            assert refused.value.errno == errno.EADDRINUSE
    finally:
        sock.close()
    alone = http_socket(settings())
    with alone:
        assert alone.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1
        assert alone.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 0


async def test_connections_to_a_services_socket_send_small_writes_at_once() -> None:
    """Nagle's algorithm off on every accepted connection (runtime.http_socket): with it on, a
    response written as headers then body waited for the client's delayed ACK, 40 ms."""
    accepted: asyncio.Queue[asyncio.BaseTransport] = asyncio.Queue()

    class Accepted(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            accepted.put_nowait(transport)

    listening = http_socket(settings(TALENTLEDGER_HTTP_REUSE_PORT=True))
    server = await asyncio.get_running_loop().create_server(Accepted, sock=listening)
    async with server:
        port = listening.getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        connection = await asyncio.wait_for(accepted.get(), 30)
        nodelay = connection.get_extra_info("socket").getsockopt(
            socket.IPPROTO_TCP, socket.TCP_NODELAY
        )
        connection.close()
        writer.close()
        await writer.wait_closed()
    assert nodelay == 1


def test_a_replica_after_the_first_names_its_own_log_and_span_files() -> None:
    assert settings().file_stem("framework") == "framework"
    assert settings(TALENTLEDGER_REPLICA=3).file_stem("framework") == "framework-3"


def test_a_stack_recorded_before_replicas_loads_as_one_replica(tmp_path: Path) -> None:
    recorded = {
        "database_url": "postgresql://localhost/db",
        "nats_url": "nats://localhost:4222",
        "temporal_address": "localhost:7233",
        "services": {"framework": {"name": "framework", "port": 8001, "pid": os.getpid()}},
    }
    (tmp_path / "stack.json").write_text(json.dumps(recorded))
    state = StackState.load(tmp_path)
    assert state is not None
    framework = state.services["framework"]
    assert framework.pids == [os.getpid()]
    assert framework.replicas == 1
    assert not framework.running(), "this process is no framework service"
    state.save(tmp_path)
    assert json.loads((tmp_path / "stack.json").read_text())["services"]["framework"]["pids"]


@pytest.mark.parametrize("replicas", ["0", "17", "two"])
def test_up_refuses_a_replica_count_out_of_range(replicas: str) -> None:
    refused = CliRunner().invoke(app, ["up", "--replicas", replicas])
    assert refused.exit_code == 2
    assert "--replicas" in refused.output


@pytest.mark.parametrize(
    ("running", "wanted", "keep", "start", "surplus"),
    [
        ([], 2, [], [1, 2], []),
        ([1, 2], 2, [1, 2], [], []),
        # Replica 1 crashed: the one running stays, and no moment goes unserved.
        ([2], 1, [2], [], []),
        ([2], 2, [2], [1], []),
        ([2], 3, [2], [1, 3], []),
        ([1, 2, 3], 1, [1], [], [2, 3]),
        ([3, 1], 2, [1, 3], [], []),
    ],
)
def test_up_keeps_the_replicas_running_and_starts_only_the_missing(
    running: list[int], wanted: int, keep: list[int], start: list[int], surplus: list[int]
) -> None:
    assert plan_replicas(running, wanted) == ReplicaPlan(keep, start, surplus)


def test_a_service_records_its_replicas_by_number() -> None:
    service = ServiceProcess("framework", port=8001)
    service.record(2, 4242)
    assert (service.pids, service.numbers, service.replicas) == ([None, 4242], [2], 1)
    assert service.label(2) == "replica 2 of the framework service"
    service.record(1, 4241)
    assert service.label(1) == "replica 1 of the framework service"
    service.record(2, None)
    assert (service.pids, service.numbers) == ([4241], [1])
    assert service.label(1) == "the framework service"


def test_a_port_replicas_left_in_time_wait_stays_free_and_one_listened_on_does_not() -> None:
    """Else a restart would move a service to another port, while the cycles service's
    replicas still reach it at the old one."""
    listening = http_socket(settings(TALENTLEDGER_HTTP_REUSE_PORT=True))
    port = listening.getsockname()[1]
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
            accepted, _ = listening.accept()
            accepted.close()  # the server closes first: its side waits in TIME_WAIT
            assert client.recv(1) == b""
        assert not _port_free(port), "a replica of this user's listens there"
    finally:
        listening.close()
    assert _port_free(port)


def test_stack_json_is_replaced_whole(tmp_path: Path) -> None:
    state = StackState("postgresql://localhost/db", "nats://localhost:4222", "localhost:7233")
    state.save(tmp_path)
    state.services["framework"] = ServiceProcess("framework", 8001, [None, 4242])
    state.save(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["stack.json"], "no temporary file left"
    loaded = StackState.load(tmp_path)
    assert loaded is not None
    assert loaded.services["framework"].numbers == [2]


def test_up_and_down_hold_the_homes_lock(tmp_path: Path) -> None:
    """Two at once would each start replicas the other's stack.json never records."""
    stack = Stack(settings(TALENTLEDGER_HOME=str(tmp_path)))
    with (
        stack._exclusive(),
        (tmp_path / "stack.lock").open() as other,
        pytest.raises(BlockingIOError),
    ):
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    with (tmp_path / "stack.lock").open() as other:
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_up_fails_for_a_replica_gone_after_it_listened(tmp_path: Path) -> None:
    stack = Stack(settings(TALENTLEDGER_HOME=str(tmp_path)))
    gone = ServiceProcess("framework", 8001, [os.getpid()])  # no framework service
    with pytest.raises(ServerError, match="the framework service exited"):
        stack._check_running(gone)


def test_leftover_processes_of_a_killed_runs_home_are_killed(tmp_path: Path) -> None:
    """A replica spawned but never recorded in stack.json: `down` cannot know it."""
    replica = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"],
        env={**os.environ, "TALENTLEDGER_HOME": str(tmp_path)},
    )
    try:
        _kill_processes_of(tmp_path)
        assert not psutil.pid_exists(replica.pid)
    finally:
        replica.kill()
        replica.wait()
