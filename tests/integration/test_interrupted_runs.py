"""A test run leaves no server behind: Ctrl-C and SIGTERM run every fixture's teardown, and
what a SIGKILLed run leaves is stopped by the next run (tests/support/leftovers.py)."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from talentledger.stack.servers import ClusterNode, EmbeddedNats, free_port
from tests.support import leftovers
from tests.support.stack import ROOT

# A run that starts the session's embedded NATS, says so, and waits to be stopped.
WAITING_RUN = """
import os
import time
from pathlib import Path


def test_waits_to_be_stopped(nats_url):
    Path(os.environ["READY_FILE"]).write_text(nats_url)
    time.sleep(600)
"""


def _start_run(tmp_path: Path) -> tuple[subprocess.Popen[bytes], list[psutil.Process]]:
    """A pytest run with the project's fixtures, once its NATS is up; and its servers."""
    (tmp_path / "test_waiting.py").write_text(WAITING_RUN)
    ready = tmp_path / "ready"
    run = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "tests.conftest",
            "-q",
            "-n",
            "0",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
            str(tmp_path / "test_waiting.py"),
        ],
        cwd=ROOT,
        env={"READY_FILE": str(ready), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        # A run started in the background by a non-interactive shell inherits SIGINT ignored,
        # and so would this one: a terminal's Ctrl-C is what the test stands for.
        preexec_fn=_default_sigint,
    )
    deadline = time.monotonic() + 120
    while not ready.exists():
        assert run.poll() is None, "the run ended before its NATS was up"
        assert time.monotonic() < deadline, "the run's NATS did not come up"
        time.sleep(0.2)
    servers = [p for p in psutil.Process(run.pid).children(recursive=True) if _is_server(p)]
    assert servers, "the run started no server"
    return run, servers


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _is_server(process: psutil.Process) -> bool:
    try:
        return process.name() == "nats-server"
    except psutil.Error:
        return False


def _all_gone(processes: list[psutil.Process], timeout: float) -> bool:
    _, alive = psutil.wait_procs(processes, timeout=timeout)
    return not alive


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_interrupted_run_stops_what_it_started(tmp_path: Path, sig: signal.Signals) -> None:
    run, servers = _start_run(tmp_path)
    run.send_signal(sig)
    run.wait(120)
    assert _all_gone(servers, 30), f"left running after {sig.name}: {servers}"


def test_the_next_run_stops_what_a_killed_run_left(tmp_path: Path) -> None:
    run, servers = _start_run(tmp_path)
    claimed = leftovers.claimed_by(run.pid)
    assert claimed, "the run claimed its server directory"
    run.kill()
    run.wait(30)
    assert not _all_gone(servers, 1), "a SIGKILLed run cannot stop its servers itself"
    stopped = leftovers.stop_orphans()
    # Another test run starting on this machine meanwhile may have stopped them first: either
    # way, the next run to start leaves nothing of the killed one.
    assert set(claimed) <= set(stopped) or not any(path.exists() for path in claimed)
    assert _all_gone(servers, 30), f"still running: {servers}"
    assert not any(path.exists() for path in claimed)


def test_the_next_run_stops_the_cluster_nodes_a_killed_run_left() -> None:
    """A cluster's nodes have a directory each in the run's claimed directory."""
    directory = leftovers.claimed_directory()
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    (directory / leftovers.CLAIM).write_text(ended.stdout.strip())  # a run that has ended
    route_ports = (free_port(), free_port())
    node = EmbeddedNats(
        directory / "nats-2",
        cluster=ClusterNode("talentledger", "nats-2", route_ports[1], route_ports),
    )
    try:
        node.start()
        process = psutil.Process(node.pid)
        stopped = leftovers.stop_orphans()
        # As above: another run starting meanwhile may have stopped it first.
        assert directory in stopped or not directory.exists()
        assert _all_gone([process], 30), "the node was stopped"
        assert not directory.exists()
    finally:
        node.stop()
        shutil.rmtree(directory, ignore_errors=True)
