"""Which servers the tests use: external from environment variables, containers when asked
(TALENTLEDGER_TEST_CONTAINERS=1 and a Docker engine answers), embedded otherwise."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
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


@contextmanager
def nats_server(stack: ExitStack, base: Path) -> Iterator[str]:
    if url := os.environ.get("NATS_URL"):
        yield url
    elif docker_available():
        from testcontainers.nats import NatsContainer

        container = stack.enter_context(NatsContainer("nats:2.11").with_command("-js"))
        yield container.nats_uri()
    else:
        from talentledger.stack.servers import EmbeddedNats

        server = EmbeddedNats(base / "nats")
        try:
            yield server.start()
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
