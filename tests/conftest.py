"""Fixtures for tests on real servers (see tests/support/servers.py for which ones)."""

from __future__ import annotations

import os
import shutil
import signal
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, suppress
from pathlib import Path
from types import FrameType

import psycopg
import pytest
from faststream.nats import NatsBroker
from psycopg_pool import AsyncConnectionPool

from libs.events.broker import ensure_streams, make_broker
from libs.events.migrations import migrate
from libs.events.migrations.roles import with_database
from libs.events.store import EventStore
from libs.events.subjects import DEAD_LETTER_STREAM, EVENT_STREAM, INTAKE_STREAM, PAYLOAD_BUCKET
from tests.support import leftovers, servers

SHARED = Path(__file__).resolve().parents[2] / "shared"
E2E = Path(__file__).resolve().parent / "e2e"
E2E_TIMEOUT = 1200


def _interrupted(signum: int, _: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config: pytest.Config) -> None:
    # SIGTERM and SIGHUP end the run as Ctrl-C does, so every fixture's teardown stops the
    # servers and stacks it started; what a SIGKILLed run leaves, the next run stops.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupted)


def pytest_sessionstart(session: pytest.Session) -> None:
    # Once a run: pytest-xdist workers start their sessions together, and two cleanups of
    # the same directory at once would race (one removing what the other still stops).
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        leftovers.stop_orphans()


# The whole-stack files, longest first (minutes each on two cores). They are handed to the
# workers first and in this order (pyproject: --no-loadscope-reorder; xdist would otherwise
# hand out files with the most tests first and these, holding one to eight tests, last, so
# that a worker started a five-minute file when the other had little left).
E2E_LONGEST_FIRST = (
    "test_cycle_survives_kills.py",
    "test_thin_slice.py",
    "test_external_servers.py",
    "test_review_cycle.py",
    "test_replicas_survive_kills.py",
    "test_cycle_on_a_jetstream_cluster.py",
)


def _start_order(item: pytest.Item) -> tuple[int, int]:
    path = Path(item.path)
    if E2E not in path.parents:
        return (1, 0)
    if path.name in E2E_LONGEST_FIRST:
        return (0, E2E_LONGEST_FIRST.index(path.name))
    return (0, len(E2E_LONGEST_FIRST))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests under tests/e2e bring up whole stacks: `-m "not e2e"` leaves them out. Their
    waits are bounded by progress; the run-wide timeout is only a backstop against a hang,
    so theirs is wider: a whole cycle with every service restarted takes minutes. They run
    first, longest first (a stable sort: the order within a file stays)."""
    items.sort(key=_start_order)
    for item in items:
        if E2E in Path(item.path).parents:
            item.add_marker(pytest.mark.e2e)
            item.add_marker(pytest.mark.timeout(E2E_TIMEOUT))


@pytest.fixture(scope="session")
def server_dir() -> Iterator[Path]:
    """Embedded servers' data (leftovers.claimed_directory)."""
    path = leftovers.claimed_directory()
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def server_stack(server_dir: Path) -> Iterator[ExitStack]:
    with ExitStack() as stack:
        yield stack


@pytest.fixture(scope="session")
def postgres_url(server_stack: ExitStack, server_dir: Path) -> str:
    return server_stack.enter_context(servers.postgres_server(server_stack, server_dir))


@pytest.fixture(scope="session")
def nats(server_stack: ExitStack, server_dir: Path) -> servers.Nats:
    """NATS with authentication (when embedded): connect with `nats.credentials(identity)`."""
    return server_stack.enter_context(servers.nats_server(server_stack, server_dir))


@pytest.fixture(scope="session")
def nats_url(nats: servers.Nats) -> str:
    return nats.url


@pytest.fixture(scope="module")
def nats_cluster() -> Iterator[servers.NatsCluster]:
    """A 3-node JetStream cluster of embedded servers with the stack's authorization, started
    for a module's tests and stopped after them: connect with `nats_cluster.nats`. A test that
    stops a node starts it again."""
    with servers.nats_cluster() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def temporal_address(server_stack: ExitStack, server_dir: Path) -> str:
    return server_stack.enter_context(servers.temporal_server(server_stack, server_dir))


@pytest.fixture
def database_url(postgres_url: str) -> Iterator[str]:
    """A fresh database for each test, dropped afterwards."""
    name = f"tl_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = with_database(postgres_url, name)
    yield url
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[AsyncConnectionPool]:
    async with AsyncConnectionPool(database_url, min_size=1, max_size=12, open=False) as pool:
        yield pool


@pytest.fixture
def schema(database_url: str) -> str:
    """A migrated service schema with the event log, inbox and checkpoints."""
    migrate(database_url, "svc")
    return "svc"


@pytest.fixture
async def store(pool: AsyncConnectionPool, schema: str) -> AsyncIterator[EventStore]:
    store = EventStore(pool, schema)
    yield store
    await store.close()


@pytest.fixture
async def broker(nats: servers.Nats) -> AsyncIterator[NatsBroker]:
    """A connected broker on freshly created streams (old streams and consumers removed),
    as the operator identity."""
    broker = make_broker(nats.url, client_name="tests", credentials=nats.credentials())
    await broker.connect()
    js = broker.connection.jetstream()
    for stream in (EVENT_STREAM, DEAD_LETTER_STREAM, INTAKE_STREAM):
        with suppress(Exception):
            await js.delete_stream(stream)
    with suppress(Exception):
        await js.delete_object_store(PAYLOAD_BUCKET)
    await ensure_streams(broker)
    yield broker
    await broker.stop()
