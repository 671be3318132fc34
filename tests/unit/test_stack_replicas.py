"""Several processes of a service on one address (`talentledger up --replicas`, README)."""

from __future__ import annotations

import errno
import json
import os
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from libs.platform.runtime import http_socket
from libs.platform.settings import Settings
from talentledger.cli import app
from talentledger.stack.supervisor import StackState


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
