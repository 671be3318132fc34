"""Which servers the tests use: external from environment variables, containers when asked
(TALENTLEDGER_TEST_CONTAINERS=1 and a Docker engine answers), embedded otherwise."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

if TYPE_CHECKING:
    from talentledger.stack.servers import EmbeddedNats


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
        from talentledger.stack.servers import EmbeddedNats

        home = base / "stack-home"
        server = EmbeddedNats(base / "nats", authorization=_stack_authorization(home))
        try:
            yield Nats(server.start(), home=home)
        finally:
            server.stop()


def _stack_authorization(home: Path) -> str:
    """The embedded stack's authorization block, its identities' seeds under `home`."""
    from libs.platform.settings import Settings
    from talentledger.stack.broker_identities import server_authorization
    from talentledger.stack.supervisor import SERVICES

    return server_authorization(home, SERVICES, Settings())


class NatsCluster:
    """Embedded nats-servers forming one JetStream cluster on loopback, each node with its
    own store and the stack's authorization. A node keeps its ports across restarts, so
    clients given every node's URL (`nats`) fail over to the others and back."""

    NAME = "talentledger"

    def __init__(self, directory: Path, size: int = 3) -> None:
        from talentledger.stack.servers import ClusterNode, EmbeddedNats, free_port

        ports: set[int] = set()
        while len(ports) < 2 * size:
            ports.add(free_port())
        chosen = sorted(ports)
        self.client_ports, route_ports = chosen[:size], chosen[size:]
        self.home = directory / "stack-home"
        authorization = _stack_authorization(self.home)
        self.nodes = [
            EmbeddedNats(
                directory / f"nats-{n}",
                authorization,
                cluster=ClusterNode(self.NAME, f"nats-{n}", route_port, tuple(route_ports)),
            )
            for n, route_port in enumerate(route_ports, start=1)
        ]

    @property
    def nats(self) -> Nats:
        """Every node's URL, and the stack's identities."""
        urls = ",".join(f"nats://127.0.0.1:{port}" for port in self.client_ports)
        return Nats(urls, home=self.home)

    def node(self, name: str) -> EmbeddedNats:
        """The node JetStream knows as `name` (a stream's leader, say)."""
        [node] = [node for node in self.nodes if node.cluster and node.cluster.name == name]
        return node

    def start(self, node: EmbeddedNats | None = None, timeout: float = 60) -> None:
        """Start `node` (else every node) on its ports, and return once every running node is
        in step with an elected JetStream meta leader."""
        deadline = time.monotonic() + timeout
        for each in [node] if node else self.nodes:
            each.start(port=self.client_ports[self.nodes.index(each)], timeout=timeout)
        while not self.formed():
            if time.monotonic() > deadline:
                raise TimeoutError(f"no JetStream cluster within {timeout:g}s: {self.nodes}")
            time.sleep(0.1)

    def formed(self) -> bool:
        """Whether every running node knows the same meta leader and is current."""
        running = [node for node in self.nodes if node.is_running()]
        leaders = {node.meta_leader() for node in running}
        return len(leaders) == 1 and None not in leaders and all(n.is_current() for n in running)

    def kill(self, node: EmbeddedNats, timeout: float = 10) -> None:
        """SIGKILL `node`, as a crashed machine: no shutdown, nothing flushed."""
        pid = node.pid
        assert pid is not None, f"{node.data_dir} is not running"
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + timeout
        while node.is_running():  # reaps it: the node is our child
            assert time.monotonic() < deadline, f"pid {pid} outlived SIGKILL"
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop every node, each even when stopping another failed."""
        errors: list[Exception] = []
        for node in self.nodes:
            try:
                node.stop()
            except Exception as error:  # noqa: BLE001 - stop the others, report all
                errors.append(error)
        if errors:
            raise ExceptionGroup("cluster nodes did not stop", errors)


@contextmanager
def nats_cluster(size: int = 3) -> Iterator[NatsCluster]:
    """A JetStream cluster of `size` embedded nodes in a directory of its own, claimed like
    the session's (tests/support/leftovers.py): a killed run's nodes are stopped by the next.
    Every node is stopped on the way out, also on Ctrl-C or SIGTERM."""
    from tests.support import leftovers

    directory = leftovers.claimed_directory()
    try:
        cluster = NatsCluster(directory, size)
        try:
            cluster.start()
            yield cluster
        finally:
            cluster.stop()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


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
