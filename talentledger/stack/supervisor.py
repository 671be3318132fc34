"""`talentledger up / down / status`: the embedded stack and the service processes.

Everything lives under `TALENTLEDGER_HOME` (default `./.talentledger`):

    postgres/   PostgreSQL data        nats/      JetStream store      temporal/  Temporal DB
    keys/       development JWT key, NATS identities (keys/nats/, see broker_identities),
                database role passwords (postgres.pgpass), Temporal payload keys,
                decision-log checkpoint key (and its pinned fingerprint)
    logs/       one log a service      traces/    spans      checkpoints/  signed log heads
    stack.json  what runs where (addresses, ports, pids); stack.lock held while `up` or `down`
                changes it

A server whose address is given (`DATABASE_URL`, `NATS_URL`, `TEMPORAL_ADDRESS`) is used as
it is and never started or stopped here. `DATABASE_URL` must then name a role allowed to
create roles: the owner and service roles are created through it, as on the embedded server,
and no service connects with it.
"""

from __future__ import annotations

import contextlib
import importlib
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from libs.events.migrations.roles import OWNER_ROLE, PasswordFile
from libs.personal.vault import MasterKeys
from libs.platform.auth import ensure_dev_keypair
from libs.platform.settings import Settings, replica_stem
from libs.platform.temporal import PayloadKeys
from services.promotion.adapters.checkpoints import ensure_checkpoint_key
from talentledger.stack import database
from talentledger.stack.broker_identities import (
    OPERATOR_IDENTITY,
    credentials_file,
    server_authorization,
    setup_streams,
)
from talentledger.stack.servers import (
    EmbeddedNats,
    EmbeddedPostgres,
    EmbeddedTemporal,
    ServerError,
    free_port,
    locked,
    port_accepts,
)

SERVICES = ("framework", "assessment", "development", "promotion", "cycles")


def import_services() -> None:
    """Load every service's definition, and with it every event type the services record."""
    for name in SERVICES:
        importlib.import_module(f"services.{name}.service")


@dataclass
class ServiceProcess:
    """A service's processes, its replicas, all on one port: each listens with SO_REUSEPORT
    and the kernel spreads the connections among those listening. Replica n's pid is
    `pids[n - 1]`; None where there is no replica n (fewer replicas kept a later one)."""

    name: str
    port: int
    pids: list[int | None] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def numbers(self) -> list[int]:
        """The replicas recorded, by number."""
        return [n for n, pid in enumerate(self.pids, start=1) if pid]

    @property
    def replicas(self) -> int:
        return len(self.numbers)

    def replica_running(self, replica: int) -> bool:
        pid = self.pids[replica - 1] if replica <= len(self.pids) else None
        return _alive(pid, f"services.{self.name}")

    def running_replicas(self) -> list[int]:
        return [n for n in self.numbers if self.replica_running(n)]

    def running(self) -> bool:
        """Whether every replica runs."""
        return bool(self.numbers) and len(self.running_replicas()) == self.replicas

    def label(self, replica: int) -> str:
        service = f"the {self.name} service"
        return service if self.numbers == [1] else f"replica {replica} of {service}"

    def record(self, replica: int, pid: int | None) -> None:
        self.pids += [None] * (replica - len(self.pids))
        self.pids[replica - 1] = pid
        while self.pids and self.pids[-1] is None:
            self.pids.pop()


@dataclass(frozen=True)
class ReplicaPlan:
    """How `up` brings a service to the replicas wanted, without a moment unserved: it keeps
    those running (the lowest numbers first), starts the missing under the lowest numbers
    free, and stops the surplus only once the others serve."""

    keep: list[int]
    start: list[int]
    surplus: list[int]


def plan_replicas(running: list[int], wanted: int) -> ReplicaPlan:
    """The plan for `wanted` replicas of a service whose replicas `running` run."""
    running = sorted(running)
    keep, surplus = running[:wanted], running[wanted:]
    free = (n for n in itertools.count(1) if n not in running)
    return ReplicaPlan(keep, [next(free) for _ in range(wanted - len(keep))], surplus)


@dataclass
class StackState:
    database_url: str
    nats_url: str
    temporal_address: str
    nats_monitor_url: str | None = None
    temporal_ui_url: str | None = None
    services: dict[str, ServiceProcess] = field(default_factory=dict)
    # The owner role's URL (migrations) and each service's own; passwords stay in keys/.
    database_owner_url: str | None = None
    service_database_urls: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, home: Path) -> StackState | None:
        path = home / "stack.json"
        if not path.exists():
            return None
        raw = json.loads(path.read_text())
        raw["services"] = {
            n: ServiceProcess(**_replicas_recorded(s)) for n, s in raw.get("services", {}).items()
        }
        return cls(**raw)

    def save(self, home: Path) -> None:
        """Replace stack.json whole: a crash mid-write leaves the previous one, not half."""
        descriptor, written = tempfile.mkstemp(dir=home, prefix=".stack.json.")
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as file:
                file.write(json.dumps(asdict(self), indent=2))
                file.flush()
                os.fsync(file.fileno())
            os.replace(written, home / "stack.json")
        except BaseException:
            Path(written).unlink(missing_ok=True)
            raise


def _replicas_recorded(service: dict[str, Any]) -> dict[str, Any]:
    """A service as stack.json records it; one written before replicas had a single `pid`."""
    if "pid" not in service:
        return service
    return {k: v for k, v in service.items() if k != "pid"} | {"pids": [service["pid"]]}


def _alive(pid: int | None, marker: str) -> bool:
    if not pid:
        return False
    try:
        process = psutil.Process(pid)
        return (
            process.is_running()
            and process.status() != psutil.STATUS_ZOMBIE
            and any(marker in part for part in process.cmdline())
        )
    except psutil.Error:
        return False


def with_stack_addresses(
    settings: Settings, service: str | None = None, nats_identity: str | None = None
) -> Settings:
    """Fill server addresses not given in the environment from the running stack; with
    `service`, the database URL is that service's own role's.

    When NATS is the stack's own, the process connects as `nats_identity` (an integration,
    a service; the operator by default) unless NATS_CREDENTIALS names an identity.
    """
    state = StackState.load(settings.home.absolute())
    if state is None:
        return settings
    keys = settings.home.absolute() / "keys"
    database_url = state.service_database_urls.get(service or "", state.database_url)
    credentials = settings.nats_credentials
    if credentials is None and settings.nats_url is None and state.nats_monitor_url:
        credentials = credentials_file(settings.home, nats_identity or OPERATOR_IDENTITY)
    return settings.model_copy(
        update={
            "database_url": settings.database_url or database_url,
            "database_owner_url": settings.database_owner_url or state.database_owner_url,
            "nats_url": settings.nats_url or state.nats_url,
            "nats_credentials": credentials,
            "temporal_address": settings.temporal_address or state.temporal_address,
            "jwt_public_key_file": settings.jwt_public_key_file
            or (keys / "dev-signing-key.pub.pem"),
        }
    )


class Stack:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.home = settings.home.absolute()
        self.postgres = EmbeddedPostgres(self.home / "postgres", keys_dir=self.home / "keys")
        self.database_passwords = PasswordFile(self.home / "keys" / "postgres.pgpass")
        self.nats = EmbeddedNats(self.home / "nats")
        self.temporal = EmbeddedTemporal(self.home / "temporal")

    def up(
        self, progress: Callable[[str], None] | None = None, replicas: int | None = None
    ) -> StackState:
        """Start what is not running yet, with `replicas` processes of each service (stopping
        any beyond; as many as each ran before when not given, one at first); return where
        everything is once every process of every service serves."""
        if replicas is not None and replicas < 1:
            raise ServerError(f"a service runs at least one replica, not {replicas}")
        self.home.mkdir(parents=True, exist_ok=True)
        with self._exclusive():
            return self._up(progress or (lambda _: None), replicas)

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        """One `up` or `down` at a time on a home: two would each start replicas the other's
        stack.json never records, which share the port and are never stopped."""
        if not self.home.exists():  # nothing to change; a lock would make the home again
            yield
            return
        with locked(self.home / "stack.lock"):
            yield

    def _up(self, note: Callable[[str], None], replicas: int | None) -> StackState:
        previous = StackState.load(self.home)
        note("PostgreSQL")
        database_url = self.settings.database_url or self.postgres.start()
        note("database roles and migrations")
        service_urls = database.prepare(database_url, SERVICES, self.database_passwords)
        note("NATS JetStream")
        nats_url = self.settings.nats_url or self._start_nats()
        note("Temporal")
        temporal_address = self.settings.temporal_address or self.temporal.start()
        _, public_key = ensure_dev_keypair(self.home / "keys")
        PayloadKeys.ensure(self.settings.temporal_payload_keys.absolute())
        # Every service seals personal fields under data keys wrapped in these, and refuses
        # to start without them (docs/privacy.md).
        MasterKeys.ensure(self.settings.personal_data_keys.absolute())
        if self.settings.checkpoint_key_file is None:
            # The promotion service signs decision-log checkpoints with it; `audit verify`
            # accepts the fingerprint recorded beside it unless another is pinned.
            ensure_checkpoint_key(self.home / "keys" / self.settings.checkpoint_key.name)
        state = StackState(
            database_url=database_url,
            nats_url=nats_url,
            temporal_address=temporal_address,
            nats_monitor_url=None if self.settings.nats_url else self.nats.monitor_url,
            temporal_ui_url=None if self.settings.temporal_address else self.temporal.ui_url,
            services=previous.services if previous else {},
            database_owner_url=self.database_passwords.url(database_url, OWNER_ROLE),
            service_database_urls=service_urls,
        )
        state.save(self.home)
        plans: dict[str, ReplicaPlan] = {}
        for name in SERVICES:
            note(f"{name} service")
            plans[name] = self._start_service(name, state, public_key, replicas)
        for name, plan in plans.items():
            self._wait_serving(state.services[name], plan.keep + plan.start)
        surplus = {name: plan.surplus for name, plan in plans.items() if plan.surplus}
        if surplus:
            note("replicas beyond those wanted")
            _stop_pids(
                [state.services[n].pids[r - 1] for n in surplus for r in surplus[n]], signal.SIGTERM
            )
            for name, numbers in surplus.items():
                for replica in numbers:
                    state.services[name].record(replica, None)
            state.save(self.home)
        for name in SERVICES:  # one that died after it listened must not pass for running
            self._check_running(state.services[name])
        return state

    def _start_nats(self) -> str:
        """The embedded NATS, with an identity per process; the operator sets up streams."""
        self.nats.authorization = server_authorization(self.home, SERVICES, self.settings)
        url = self.nats.start()
        operator = credentials_file(self.home, OPERATOR_IDENTITY)
        setup_streams(
            self.settings.model_copy(update={"nats_url": url, "nats_credentials": operator})
        )
        return url

    def _start_service(
        self, name: str, state: StackState, public_key: Path, replicas: int | None
    ) -> ReplicaPlan:
        """Its missing replicas started, on the port those that run listen on, each recorded
        in stack.json as soon as it is spawned; the plan says which to stop once they serve."""
        known = state.services.get(name) or ServiceProcess(name, port=0)
        running = known.running_replicas()
        plan = plan_replicas(running, replicas or known.replicas or 1)
        port = known.port if running or (known.port and _port_free(known.port)) else free_port()
        service = state.services[name] = ServiceProcess(name, port)
        for replica in running:
            service.record(replica, known.pids[replica - 1])
        for replica in plan.start:
            service.record(replica, self._spawn(name, replica, port, state, public_key))
            state.save(self.home)
        state.save(self.home)
        return plan

    def _spawn(
        self, name: str, replica: int, port: int, state: StackState, public_key: Path
    ) -> int:
        logs = self.home / "logs"
        logs.mkdir(mode=0o700, exist_ok=True)
        env = {
            # A service never learns the owner's or an administrator's database URL.
            **{
                k: v
                for k, v in os.environ.items()
                if k not in ("DATABASE_OWNER_URL", "DATABASE_ADMIN_URL")
            },
            "DATABASE_URL": state.service_database_urls[name],
            "NATS_URL": state.nats_url,
            "TEMPORAL_ADDRESS": state.temporal_address,
            "TALENTLEDGER_HOME": str(self.home),
            "TALENTLEDGER_HTTP_PORT": str(port),
            # Every replica listens on the port; so may any added later by `up --replicas`.
            "TALENTLEDGER_HTTP_REUSE_PORT": "true",
            "TALENTLEDGER_REPLICA": str(replica),
            # Names every database connection of the replica (pg_stat_activity), so that one
            # can tell which replica holds what, such as its relay's lock.
            "PGAPPNAME": f"{name}-{replica}",
            "TALENTLEDGER_LOG_DIR": str(logs),
        }
        if name == "cycles":
            # It gathers access requests from the others (docs/privacy.md, Requests), which
            # start before it: SERVICES lists it last.
            env["TALENTLEDGER_SERVICE_URLS"] = ",".join(
                f"{other}={service.url}"
                for other, service in state.services.items()
                if other != name
            )
        if not self.settings.jwks_url:
            env.setdefault("TALENTLEDGER_JWT_PUBLIC_KEY_FILE", str(public_key))
        if not self.settings.nats_url:  # the stack's own NATS: each service its own identity
            env["NATS_CREDENTIALS"] = str(credentials_file(self.home, name))
        # The service logs to <name>.log itself (rotated, private; a replica after the first to
        # <name>-<replica>.log); what bypasses logging, such as a crash before it is set up,
        # lands here.
        out = logs / f"{replica_stem(name, replica)}.out"
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", f"services.{name}"],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return process.pid

    def _wait_serving(
        self, service: ServiceProcess, replicas: list[int], timeout: float = 90
    ) -> None:
        """Until each of `replicas` listens on the service's port (it listens once its
        consumers are subscribed, and serves at once) and the port answers `/health`."""
        deadline = time.monotonic() + timeout
        waiting = list(replicas)
        while time.monotonic() < deadline:
            for replica in list(waiting):
                self._check_running(service, replica)
                if _listens(service.pids[replica - 1], service.port):
                    waiting.remove(replica)
            if not waiting and _healthy(service.url):
                return
            time.sleep(0.2)
        replica = waiting[0] if waiting else replicas[0]
        raise ServerError(
            f"{service.label(replica)} did not serve in {timeout:.0f}s; its log:\n"
            + self._service_log(service.name, replica)
        )

    def _check_running(self, service: ServiceProcess, *replicas: int) -> None:
        """Raise, with its log, for the first of `replicas` (all recorded by default) gone."""
        for replica in replicas or service.numbers:
            if not service.replica_running(replica):
                raise ServerError(
                    f"{service.label(replica)} exited at start; its log:\n"
                    + self._service_log(service.name, replica)
                )

    def _service_log(self, name: str, replica: int = 1) -> str:
        logs, stem = self.home / "logs", replica_stem(name, replica)
        return f"{_tail(logs / f'{stem}.log')}\n--- its output ---\n{_tail(logs / f'{stem}.out')}"

    def stop_service(
        self, name: str, sig: signal.Signals = signal.SIGTERM, replica: int | None = None
    ) -> None:
        """Stop the service's replicas, or only the one numbered `replica`."""
        self.stop_services([name], sig, replica)

    def stop_services(
        self, names: list[str], sig: signal.Signals = signal.SIGTERM, replica: int | None = None
    ) -> None:
        """Signal every replica of every named service (only replica number `replica` of
        each, when given) first, then wait for each: they drain side by side."""
        state = StackState.load(self.home)
        pids: list[int | None] = []
        for name in names:
            service = state.services.get(name) if state else None
            if service is not None:
                running = service.running_replicas()
                pids += [service.pids[n - 1] for n in running if replica in (None, n)]
        _stop_pids(pids, sig)

    def down(self) -> None:
        """Stop the services, then the embedded servers; all data stays."""
        with self._exclusive():
            self.stop_services(list(reversed(SERVICES)))
            self.temporal.stop()
            self.nats.stop()
            self.postgres.stop()

    def status(self) -> list[tuple[str, str, str]]:
        """(component, state, where) for each part of the stack."""
        state = StackState.load(self.home)
        rows: list[tuple[str, str, str]] = []
        for label, server, external in (
            ("postgres", self.postgres, self.settings.database_url),
            ("nats", self.nats, self.settings.nats_url),
            ("temporal", self.temporal, self.settings.temporal_address),
        ):
            if external:
                rows.append((label, "external", external))
            else:
                rows.append((label, _word(server.is_running()), server.url or "-"))
        for name in SERVICES:
            service = state.services.get(name) if state else None
            if service is None:
                rows.append((name, _word(False), "-"))
                continue
            running, replicas = len(service.running_replicas()), service.replicas
            word = _word(running > 0)
            if replicas > 1:
                word = f"{running} of {replicas} replicas running" if running else word
            rows.append((name, word, f"{service.url}/docs"))
        return rows


def _word(running: bool) -> str:
    return "running" if running else "stopped"


def _stop_pids(pids: list[int | None], sig: signal.Signals) -> None:
    """Signal each process, then wait for them together; kill what outlives the wait."""
    processes: list[psutil.Process] = []
    for pid in pids:
        if pid is None:  # psutil would take it for this very process
            continue
        try:
            process = psutil.Process(pid)
            process.send_signal(sig)
        except psutil.NoSuchProcess:
            continue  # it ended on its own meanwhile
        processes.append(process)
    # A service drains HTTP, relay, worker and consumers in about 30 s at most.
    _, alive = psutil.wait_procs(processes, timeout=45)
    for process in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs(alive, timeout=10)


def _listens(pid: int | None, port: int) -> bool:
    """Whether process `pid` listens on `port`."""
    try:
        connections = psutil.Process(pid).net_connections(kind="tcp")
    except psutil.Error:
        return False
    return any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in connections)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _port_free(port: int) -> bool:
    """Whether a replica could listen on `port` alone. The bind is a replica's own (with
    SO_REUSEPORT, runtime.http_socket), which TIME_WAIT sockets replicas left do not stop;
    it would pass a socket of this user's listening there as well, hence the connect."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return not port_accepts(port)


def _tail(path: Path, lines: int = 30) -> str:
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
