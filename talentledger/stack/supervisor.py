"""`talentledger up / down / status`: the embedded stack and the service processes.

Everything lives under `TALENTLEDGER_HOME` (default `./.talentledger`):

    postgres/   PostgreSQL data        nats/      JetStream store      temporal/  Temporal DB
    keys/       development JWT key, NATS identities (keys/nats/, see broker_identities),
                database role passwords (postgres.pgpass), Temporal payload keys,
                decision-log checkpoint key (and its pinned fingerprint)
    logs/       one log a service      traces/    spans      checkpoints/  signed log heads
    stack.json  what runs where (addresses, ports, pids)

A server whose address is given (`DATABASE_URL`, `NATS_URL`, `TEMPORAL_ADDRESS`) is used as
it is and never started or stopped here. `DATABASE_URL` must then name a role allowed to
create roles: the owner and service roles are created through it, as on the embedded server,
and no service connects with it.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx
import psutil

from libs.events.migrations.roles import OWNER_ROLE, PasswordFile
from libs.personal.vault import MasterKeys
from libs.platform.auth import ensure_dev_keypair
from libs.platform.settings import Settings
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
)

SERVICES = ("framework", "assessment", "development", "promotion", "cycles")


def import_services() -> None:
    """Load every service's definition, and with it every event type the services record."""
    for name in SERVICES:
        importlib.import_module(f"services.{name}.service")


@dataclass
class ServiceProcess:
    name: str
    port: int
    pid: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def running(self) -> bool:
        return _alive(self.pid, f"services.{self.name}")


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
        raw["services"] = {n: ServiceProcess(**s) for n, s in raw.get("services", {}).items()}
        return cls(**raw)

    def save(self, home: Path) -> None:
        (home / "stack.json").write_text(json.dumps(asdict(self), indent=2))


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

    def up(self, progress: Callable[[str], None] | None = None) -> StackState:
        """Start what is not running yet; return where everything is."""
        note = progress or (lambda _: None)
        self.home.mkdir(parents=True, exist_ok=True)
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
        for name in SERVICES:
            note(f"{name} service")
            state.services[name] = self._start_service(name, state, public_key)
            state.save(self.home)
        for name in SERVICES:
            self._wait_healthy(state.services[name])
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

    def _start_service(self, name: str, state: StackState, public_key: Path) -> ServiceProcess:
        known = state.services.get(name)
        if known and known.running():
            return known
        port = known.port if known and _port_free(known.port) else free_port()
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
        # The service logs to <name>.log itself (rotated, private); what bypasses logging,
        # such as a crash before it is set up, lands here.
        fd = os.open(logs / f"{name}.out", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", f"services.{name}"],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return ServiceProcess(name=name, port=port, pid=process.pid)

    def _wait_healthy(self, service: ServiceProcess, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not service.running():
                raise ServerError(
                    f"the {service.name} service exited at start; its log:\n"
                    + self._service_log(service.name)
                )
            try:
                if httpx.get(f"{service.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise ServerError(
            f"the {service.name} service did not become healthy in {timeout:.0f}s; its log:\n"
            + self._service_log(service.name)
        )

    def _service_log(self, name: str) -> str:
        logs = self.home / "logs"
        return f"{_tail(logs / f'{name}.log')}\n--- its output ---\n{_tail(logs / f'{name}.out')}"

    def stop_service(self, name: str, sig: signal.Signals = signal.SIGTERM) -> None:
        self.stop_services([name], sig)

    def stop_services(self, names: list[str], sig: signal.Signals = signal.SIGTERM) -> None:
        """Signal every named service first, then wait for each: they drain side by side."""
        state = StackState.load(self.home)
        processes: list[psutil.Process] = []
        for name in names:
            service = state.services.get(name) if state else None
            if service is None or not service.running():
                continue
            try:
                process = psutil.Process(service.pid)
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

    def down(self) -> None:
        """Stop the services, then the embedded servers; all data stays."""
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
            running = bool(service and service.running())
            rows.append((name, _word(running), f"{service.url}/docs" if service else "-"))
        return rows


def _word(running: bool) -> str:
    return "running" if running else "stopped"


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _tail(path: Path, lines: int = 30) -> str:
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
