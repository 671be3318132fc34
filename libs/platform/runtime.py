"""Runs one service as one OS process: HTTP API, event consumers, outbox relay, Temporal worker.

A service describes itself with a `ServiceDefinition`; `serve()` wires it to the servers
named in the settings and runs until SIGTERM or SIGINT, then stops each part in turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
import uvloop
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from faststream.nats import NatsBroker
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from psycopg_pool import AsyncConnectionPool
from temporalio.client import Client
from temporalio.worker import Worker

from libs.events.broker import ensure_streams, make_broker
from libs.events.consumer import EventHandler, subscribe
from libs.events.intake import admit_outside_events
from libs.events.migrations import check_migrated
from libs.events.pruning import InboxPruning
from libs.events.relay import OutboxRelay
from libs.events.store import ConcurrencyError, EventStore, EventTooLarge
from libs.personal import vault
from libs.platform import edge, temporal
from libs.platform.auth import TokenVerifier
from libs.platform.database import service_conninfo
from libs.platform.settings import Settings
from libs.platform.stalls import StallWatch
from libs.platform.telemetry import setup_logging, setup_tracing

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """The live connections a service's adapters use."""

    name: str
    settings: Settings
    pool: AsyncConnectionPool
    store: EventStore
    broker: NatsBroker
    temporal: Client


@dataclass
class ServiceParts:
    """What a service contributes; built once the runtime's connections exist."""

    api: FastAPI
    handlers: Sequence[EventHandler] = ()
    activities: Sequence[Callable[..., Any]] = ()
    workflows: Sequence[type] = ()
    # Long-running tasks of the service's own (a schedule), each given the stop event; one
    # that raises stops the process, like any other part.
    background: Sequence[Callable[[asyncio.Event], Awaitable[None]]] = ()
    # The outside systems (hris, lms) whose events this service admits from the intake into
    # its log, for its relay to publish (libs/events/intake.py): one service admits them all.
    admits: Sequence[str] = ()
    # The prefixes of the stream ids the service appends to, which no admitted event may
    # take first (libs/events/intake.py).
    own_streams: Sequence[str] = ()


@dataclass
class ServiceDefinition:
    name: str
    build: Callable[[Runtime], ServiceParts]
    migrations: Sequence[Path] = field(default_factory=tuple)


def create_api(title: str, description: str) -> FastAPI:
    """A FastAPI app behind the shared HTTP edge (authentication, body caps, input hygiene),
    with the error shapes every service shares. `app.state.token_verifier` must be set
    before it serves."""
    app = FastAPI(title=title, description=description, version="1")
    edge.install(app)

    @app.exception_handler(ConcurrencyError)
    async def _conflict(_: Request, error: ConcurrencyError) -> JSONResponse:
        return JSONResponse(status_code=409, content={"detail": str(error)})

    @app.exception_handler(EventTooLarge)
    async def _too_large(_: Request, error: EventTooLarge) -> JSONResponse:
        return JSONResponse(status_code=413, content={"detail": str(error)})

    @app.get("/health", tags=["operations"], summary="liveness, no authentication")
    async def health() -> dict[str, str]:
        return {"status": "ok", "service": title}

    return app


def not_found(what: str) -> HTTPException:
    return HTTPException(status_code=404, detail=f"{what} not found")


async def _retry(what: str, attempt: Callable[[], Awaitable[Any]], stop: asyncio.Event) -> Any:
    """Servers may still be starting: keep trying, loudly, until they answer or we stop."""
    delay = 0.2
    while True:
        try:
            return await attempt()
        except Exception as error:  # any failure: the server is not up yet
            if stop.is_set():
                raise
            log.warning("%s not reachable yet (%s); retrying in %.1fs", what, error, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


def broker_for(
    settings: Settings, client_name: str, tracer_provider: TracerProvider | None = None
) -> NatsBroker:
    """A broker for the configured NATS, connecting as the configured identity."""
    return make_broker(
        settings.require_nats_url(),
        client_name=client_name,
        credentials=settings.nats_credentials,
        tls_ca_file=settings.nats_tls_ca_file,
        tracer_provider=tracer_provider,
    )


async def _connected_broker(
    settings: Settings, client_name: str, stop: asyncio.Event, tracer_provider: TracerProvider
) -> NatsBroker:
    broker = broker_for(settings, client_name, tracer_provider)
    await _retry("NATS", broker.connect, stop)
    # JetStream may still be electing its leader after NATS accepts connections.
    await _retry("JetStream", lambda: ensure_streams(broker, settings), stop)
    return broker


async def run_relay(settings: Settings, schema: str, batch_size: int = 500) -> None:
    """Run only the outbox relay of one service schema, until SIGTERM or SIGINT."""
    stop = _stop_on_signals()
    tracer_provider = setup_tracing(f"{schema}-relay", settings)
    async with AsyncConnectionPool(
        service_conninfo(settings), min_size=1, max_size=2, open=False
    ) as pool:
        broker = await _connected_broker(settings, f"{schema}-relay", stop, tracer_provider)
        await OutboxRelay(EventStore(pool, schema), broker, batch_size=batch_size).run(stop)
        await broker.stop()
    tracer_provider.shutdown()


def http_socket(settings: Settings, backlog: int = socket.SOMAXCONN) -> socket.socket:
    """The API's socket, bound and listening; the server accepts on it once it serves. Made
    once the consumers are subscribed: with SO_REUSEPORT (`http_reuse_port`) the kernel
    hands connections only to replicas that listen.

    It listens at once because on Linux a socket bound but not listening leaves the address
    to any other socket with SO_REUSEADDR, another user's too, which could listen there
    first. With SO_REUSEPORT it sets no SO_REUSEADDR: SO_REUSEPORT alone lets the same user
    bind over its own TIME_WAIT sockets, and lets no other user's socket share the port.

    Made as a TCP socket by name (IPPROTO_TCP, not the default 0): asyncio switches Nagle's
    algorithm off only on connections accepted from such a socket, and with it on, every
    response (headers and body in two writes) waited 40 ms for the client's delayed ACK."""
    family = socket.AF_INET6 if ":" in settings.http_host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        if settings.http_reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        else:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((settings.http_host, settings.http_port))
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    return sock


def settle_start_up() -> None:
    """Put what start-up made out of the garbage collector's sight: modules, models and
    their schemas, routes, some 200,000 objects that live as long as the process. Each full
    pass walked them all, 0.1 to 0.2 s with the event loop held, several times a request
    while a 10,000-person calibration completed (bench/README.md, benchmark 12); what
    requests make is still collected."""
    gc.collect()
    gc.freeze()


async def serve(definition: ServiceDefinition, settings: Settings | None = None) -> None:
    settings = settings or Settings()
    stop = _stop_on_signals()

    name = definition.name
    tracer_provider = setup_tracing(name, settings)
    database_url = settings.require_database_url()
    try:
        master = vault.MasterKeys.load(settings.personal_data_keys)
    except vault.MasterKeyError as error:
        # Without them every personal field would have to be stored in clear.
        raise SystemExit(f"{name} cannot start: {error}") from None
    # Migrations run as the owner role, before services start (`talentledger up`, or
    # `talentledger db migrate`); the service's own role can only wait for them.
    await _retry(
        "PostgreSQL schema",
        lambda: asyncio.to_thread(check_migrated, database_url, name, *definition.migrations),
        stop,
    )
    await _retry(
        "PostgreSQL personal data keys schema",
        lambda: asyncio.to_thread(check_migrated, database_url, vault.SCHEMA, vault.MIGRATIONS),
        stop,
    )
    keys = temporal.PayloadKeys.load(settings.temporal_payload_keys)
    async with (
        AsyncConnectionPool(
            service_conninfo(settings), min_size=1, max_size=10, open=False
        ) as pool,
        # Data keys on connections of their own: an appending transaction holding a
        # connection of `pool` never waits for another of it (see `EventStore`).
        AsyncConnectionPool(
            service_conninfo(settings), min_size=1, max_size=2, open=False
        ) as key_pool,
    ):
        data_keys = vault.PostgresDataKeys(key_pool, master)
        client = await _retry(
            "Temporal",
            lambda: temporal.connect(
                settings.require_temporal_address(), keys, settings.temporal_namespace
            ),
            stop,
        )
        broker = await _connected_broker(settings, name, stop, tracer_provider)
        store = EventStore(pool, name, keys=data_keys)
        runtime = Runtime(name, settings, pool, store, broker, client)
        parts = definition.build(runtime)
        for handler in parts.handlers:
            subscribe(broker, runtime.store, handler)
        if parts.admits:
            admit_outside_events(
                broker,
                runtime.store,
                parts.admits,
                own_streams=parts.own_streams,
                retention_days=settings.intake_retention_days,
            )
        await _retry("JetStream consumers", broker.start, stop)

        api = parts.api
        api.state.runtime = runtime
        verifier = api.state.token_verifier = TokenVerifier(settings)
        # One server span a request: the ASGI messages' own spans (two more a request,
        # each exported) told nothing the server span does not, and cost the service CPU.
        FastAPIInstrumentor.instrument_app(
            api, tracer_provider=tracer_provider, exclude_spans=["receive", "send"]
        )
        settle_start_up()
        config = uvicorn.Config(api, log_level="warning", lifespan="off", http="httptools")
        server = uvicorn.Server(config)
        server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        worker = Worker(
            client,
            task_queue=name,
            activities=list(parts.activities),
            workflows=list(parts.workflows),
        )
        # Listening from here on, the kernel hands this replica connections: only once the
        # worker is built, which may take a while, and right before it serves.
        listening = http_socket(settings, config.backlog)
        relay = OutboxRelay(runtime.store, broker)
        pruning = InboxPruning(runtime.store, settings.event_retention_days)
        signing_keys = asyncio.create_task(verifier.run(stop), name="jwks")
        tasks = [
            asyncio.create_task(server.serve(sockets=[listening]), name="http"),
            asyncio.create_task(worker.run(), name="temporal-worker"),
            asyncio.create_task(relay.run(stop), name="outbox-relay"),
        ]
        stalls = StallWatch(threshold=settings.loop_stall_threshold, log=log)
        background = [
            asyncio.create_task(
                pruning.run(stop, settings.inbox_prune_interval), name="inbox-pruning"
            ),
            asyncio.create_task(stalls.run(stop), name="loop-stalls"),
            *(
                asyncio.create_task(run(stop), name=f"background-{n}")
                for n, run in enumerate(parts.background)
            ),
        ]
        host, port = listening.getsockname()[:2]
        log.info("%s serving on http://%s:%s", name, host, port)
        stopped = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait(
            [stopped, *tasks, *background], return_when=asyncio.FIRST_COMPLETED
        )
        failed = [task for task in done if task is not stopped and task.exception()]
        for task in failed:
            log.error("%s stopped: %s failed", name, task.get_name(), exc_info=task.exception())
        # Stop taking work, let what is in flight finish, then close connections.
        stop.set()
        server.should_exit = True
        http, worker_task, relay_task = tasks
        for task in (http, relay_task, *background):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 10)
        await worker.shutdown()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(worker_task, 5)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(signing_keys, 5)
        await broker.stop()
        await runtime.store.close()
        tracer_provider.shutdown()
        if failed:  # e.g. the relay refusing an unknown event type: exit non-zero, loudly
            raise SystemExit(f"{name} stopped: {failed[0].get_name()} failed (see the log)")


def main(definition: ServiceDefinition) -> None:
    """Process entry point (`python -m services.<name>`)."""
    setup_logging(Settings(), definition.name)
    # On libuv's loop: a service's requests, statements and messages are each several turns
    # of the loop, which cost a fraction of asyncio's own.
    uvloop.run(serve(definition))
