"""Which servers the tests use: external from environment variables, containers when asked
(TALENTLEDGER_TEST_CONTAINERS=1 and a Docker engine answers), embedded otherwise."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse


def docker_available() -> bool:
    if os.environ.get("TALENTLEDGER_TEST_CONTAINERS") != "1" or not shutil.which("docker"):
        return False
    try:
        import docker

        docker.from_env().ping()
    except Exception:  # noqa: BLE001
        return False
    return True


def answers(url: str, default_port: int) -> bool:
    parsed = urlparse(url if "://" in url else f"tcp://{url}")
    try:
        with socket.create_connection(
            (parsed.hostname or "127.0.0.1", parsed.port or default_port), 1
        ):
            return True
    except OSError:
        return False


@contextmanager
def postgres_server(stack: ExitStack, base: Path) -> Iterator[str]:
    if url := os.environ.get("DATABASE_URL"):
        yield url
    elif docker_available():
        from testcontainers.postgres import PostgresContainer

        container = stack.enter_context(PostgresContainer("postgres:17", driver=None))
        yield container.get_connection_url()
    else:
        from talentledger.stack.servers import EmbeddedPostgres

        server = EmbeddedPostgres(base / "postgres")
        try:
            yield server.start()
        finally:
            server.stop()


@dataclass(frozen=True)
class Nats:
    """A NATS server for the tests and the identities it knows.

    The embedded one runs with the stack's own authorization (every service, integration and
    the operator, see talentledger.stack.broker_identities), its seeds under `home`. An
    external one is used with NATS_CREDENTIALS when that is set, else without identity.
    """

    url: str
    home: Path | None = None
    given: Path | None = None

    def credentials(self, identity: str = "operator") -> Path | None:
        if self.home is None:
            return self.given
        from talentledger.stack.broker_identities import credentials_file

        return credentials_file(self.home, identity)

    def env(self, identity: str = "operator") -> dict[str, str]:
        """The environment a subprocess needs to connect as `identity`."""
        credentials = self.credentials(identity)
        return {"NATS_URL": self.url} | (
            {"NATS_CREDENTIALS": str(credentials)} if credentials else {}
        )


@contextmanager
def nats_server(stack: ExitStack, base: Path) -> Iterator[Nats]:
    if url := os.environ.get("NATS_URL"):
        given = os.environ.get("NATS_CREDENTIALS")
        yield Nats(url, given=Path(given) if given else None)
    elif docker_available():
        from testcontainers.nats import NatsContainer

        container = stack.enter_context(NatsContainer("nats:2.11").with_command("-js"))
        yield Nats(container.nats_uri())
    else:
        from libs.platform.settings import Settings
        from talentledger.stack.broker_identities import server_authorization
        from talentledger.stack.servers import EmbeddedNats
        from talentledger.stack.supervisor import SERVICES

        home = base / "stack-home"
        authorization = server_authorization(home, SERVICES, Settings())
        server = EmbeddedNats(base / "nats", authorization=authorization)
        try:
            yield Nats(server.start(), home=home)
        finally:
            server.stop()


@contextmanager
def temporal_server(stack: ExitStack, base: Path) -> Iterator[str]:
    if address := os.environ.get("TEMPORAL_ADDRESS"):
        yield address
    elif docker_available():
        from testcontainers.core.container import DockerContainer
        from testcontainers.core.waiting_utils import wait_for_logs

        container = stack.enter_context(
            DockerContainer("temporalio/temporal:latest")
            .with_command("server start-dev --ip 0.0.0.0")
            .with_exposed_ports(7233)
        )
        wait_for_logs(container, "Temporal Server")
        yield f"{container.get_container_host_ip()}:{container.get_exposed_port(7233)}"
    else:
        from talentledger.stack.servers import EmbeddedTemporal

        server = EmbeddedTemporal(base / "temporal")
        try:
            yield server.start()
        finally:
            server.stop()
