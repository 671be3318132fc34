"""What a test run leaves behind when it is killed, and how the next run cleans it up.

Every directory a run starts servers in (the session's embedded servers, each stack an e2e
test brings up) is claimed with the run's pid. Ctrl-C and SIGTERM run the fixtures' own
teardown; a run killed outright (SIGKILL, a crashed interpreter) cannot, so each run first
stops the servers and stacks of claimed directories whose run is gone.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil

log = logging.getLogger(__name__)

CLAIM = ".test-run"
PREFIXES = ("talentledger-tests-", "talentledger-e2e-")


def _run_pid() -> int:
    """The pid of the pytest process that owns this run: a pytest-xdist worker's parent.
    A worker's own command line names no pytest, so it would look like a run that is gone."""
    return os.getppid() if os.environ.get("PYTEST_XDIST_WORKER") else os.getpid()


def claim(directory: Path) -> None:
    """Record that this run owns the servers started in `directory`."""
    (directory / CLAIM).write_text(str(_run_pid()))


def claimed_directory() -> Path:
    """A new directory for servers, claimed by this run. Outside pytest's tmp_path: pytest
    makes that private to root (mode 0700) at each session start, and PostgreSQL runs as its
    own system user."""
    path = Path(tempfile.mkdtemp(prefix=PREFIXES[0]))
    path.chmod(0o755)
    claim(path)
    return path


def claimant(directory: Path) -> int | None:
    """The pid of the run that claimed `directory`, None when unclaimed."""
    try:
        return int((directory / CLAIM).read_text())
    except (OSError, ValueError):
        return None


def claimed_by(pid: int) -> list[Path]:
    """The directories the run `pid` claimed."""
    base = Path(tempfile.gettempdir())
    return [p for prefix in PREFIXES for p in base.glob(f"{prefix}*") if claimant(p) == pid]


def _owner_alive(directory: Path) -> bool:
    pid = claimant(directory)
    if pid is None:
        return False
    try:
        return "pytest" in " ".join(psutil.Process(pid).cmdline())
    except psutil.Error:
        return False


def orphans() -> list[Path]:
    """Claimed directories whose run has ended without cleaning up."""
    base = Path(tempfile.gettempdir())
    return sorted(
        path
        for prefix in PREFIXES
        for path in base.glob(f"{prefix}*")
        if (path / CLAIM).exists() and not _owner_alive(path)
    )


def stop_orphans() -> list[Path]:
    """Stop what each orphaned directory still runs, remove it, and return them."""
    from talentledger.stack.servers import EmbeddedNats, EmbeddedPostgres, EmbeddedTemporal

    found = orphans()
    for directory in found:
        log.warning("stopping what an earlier, killed test run left in %s", directory)
        if (directory / "stack.json").exists():
            subprocess.run(
                [sys.executable, "-m", "talentledger.cli", "down"],
                env={**os.environ, "TALENTLEDGER_HOME": str(directory)},
                capture_output=True,
                timeout=180,
                check=False,
            )
        # Every NATS server that recorded itself there: the session's, a cluster's nodes.
        nats = [EmbeddedNats(state.parent) for state in sorted(directory.glob("*/nats.state.json"))]
        for server in (
            EmbeddedTemporal(directory / "temporal"),
            *nats,
            EmbeddedPostgres(directory / "postgres"),
        ):
            if not directory.exists():  # another run is cleaning it up: stopping would remake it
                break
            with contextlib.suppress(Exception):  # a half-made directory: stop what there is
                server.stop()
        _kill_processes_of(directory)
        shutil.rmtree(directory, ignore_errors=True)
    _stop_orphaned_test_servers()
    return found


def _kill_processes_of(directory: Path) -> None:
    """What still runs with `directory` as its TALENTLEDGER_HOME: a service replica a run
    killed between spawning it and recording it in stack.json, which `down` cannot know."""
    homes = {str(directory), str(directory.resolve())}
    killed: list[psutil.Process] = []
    for process in psutil.process_iter():
        # AccessDenied: another user's process, none of ours; NoSuchProcess: gone meanwhile.
        with contextlib.suppress(psutil.Error):
            if process.environ().get("TALENTLEDGER_HOME") in homes:
                process.kill()
                killed.append(process)
    psutil.wait_procs(killed, timeout=10)


def _stop_orphaned_test_servers() -> None:
    """Temporal's time-skipping servers whose run died: the SDK starts them as children of
    the run, so an orphan is one whose parent is gone (adopted by init)."""
    for process in psutil.process_iter(["name", "ppid"]):
        if process.info["name"] == "temporal-test-server" and process.info["ppid"] == 1:
            with contextlib.suppress(psutil.Error):
                process.kill()
