"""A service's HTTP API in-process, on a real PostgreSQL, with real tokens; with its
consumers and outbox relay on NATS when a test asks for them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from faststream.nats import NatsBroker
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from temporalio.client import Client
from typer.testing import CliRunner, Result

from libs.events.broker import make_broker
from libs.events.consumer import subscribe
from libs.events.migrations import migrate
from libs.events.migrations.roles import OWNER_ROLE, PasswordFile, provision, service_role
from libs.events.relay import OutboxRelay
from libs.events.store import EventStore
from libs.personal.vault import MasterKeys, PostgresDataKeys
from libs.platform.auth import TokenVerifier, ensure_dev_keypair, mint_token
from libs.platform.database import service_conninfo
from libs.platform.pagination import every_item_async
from libs.platform.runtime import Runtime, ServiceParts
from libs.platform.settings import Settings
from talentledger import cli
from talentledger.stack.database import migrate_personal_data_keys
from talentledger.stack.servers import free_port
from tests.support.servers import Nats


class ServiceApi:
    """An HTTP client for one service, plus tokens for any subject and roles."""

    app: FastAPI  # the service's API, to serve it over a socket where a test needs one

    def __init__(self, client: httpx.AsyncClient, private_key: Path, store: EventStore) -> None:
        self.client = client
        self.private_key = private_key
        self.store = store
        # Minting reads and parses the signing key (tens of ms): one token per caller.
        self._tokens: dict[tuple[str, tuple[str, ...]], str] = {}

    def as_(self, sub: str, *roles: str) -> dict[str, str]:
        token = self._tokens.get((sub, roles))
        if token is None:
            settings = Settings()
            token = mint_token(
                self.private_key,
                sub,
                list(roles),
                issuer=settings.jwt_issuer,
                audience=settings.jwt_audience,
            )
            self._tokens[(sub, roles)] = token
        return {"Authorization": f"Bearer {token}"}

    @property
    def hr(self) -> dict[str, str]:
        return self.as_("hannah-hr", "hr_admin")

    @property
    def employee(self) -> dict[str, str]:
        return self.as_("eve-employee", "employee")

    async def ok(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        """Send as HR unless headers are given; assert the status; return the JSON body."""
        return (await self.response(method, path, status, **kwargs)).json()

    async def items(self, path: str, **kwargs: Any) -> list[Any]:
        """Every item of a paged list, page after page (as HR unless headers are given)."""
        # httpx replaces a URL's query with `params`: carry the path's own parameters over.
        url = httpx.URL(path)
        query = dict(url.params)
        return await every_item_async(
            lambda page: self.ok("GET", url.path, params={**query, **page}, **kwargs)
        )

    async def response(
        self, method: str, path: str, status: int = 200, **kwargs: Any
    ) -> httpx.Response:
        if "headers" not in kwargs:
            kwargs["headers"] = self.hr
        response = await self.client.request(method, path, **kwargs)
        assert response.status_code == status, f"{method} {path}: {response.text}"
        return response


Api = TypeVar("Api", bound=ServiceApi)


def service_database_url(database_url: str, schema: str, keys_dir: Path, *migrations: Path) -> str:
    """Create the owner and `schema`'s service role, migrate as the owner (the personal data
    keys' schema too), and return the service role's URL (its password in `keys_dir`)."""
    passwords = PasswordFile(keys_dir / "postgres.pgpass")
    provision(database_url, [schema], passwords)
    owner_url = passwords.url(database_url, OWNER_ROLE)
    migrate(owner_url, schema, *migrations, service_role=service_role(schema))
    migrate_personal_data_keys(owner_url, [service_role(schema)])
    return passwords.url(database_url, service_role(schema))


@asynccontextmanager
async def in_process(
    api_type: type[Api],
    build: Callable[[Runtime], ServiceParts],
    schema: str,
    migrations: Sequence[Path],
    database_url: str,
    keys_dir: Path,
    temporal: Client | None = None,
    configure: Callable[[AsyncConnection[Any]], Awaitable[None]] | None = None,
    nats: Nats | None = None,
    master: MasterKeys | None = None,
) -> AsyncIterator[Api]:
    """The service's API on `database_url` (an administrator's), connected as the service's
    own role, as a deployed service is, so that its tests prove the role's grants suffice.
    `configure`: called on each new connection of the service's pool. `nats`: the service
    also runs its consumers and outbox relay there, as its own NATS identity, as `serve()`
    does. `master`: the personal data master keys, which services reading each other's
    events share, as deployed ones do."""
    role_url = service_database_url(database_url, schema, keys_dir, *migrations)
    private, public = ensure_dev_keypair(keys_dir)
    settings = Settings.model_validate(
        {"TALENTLEDGER_JWT_PUBLIC_KEY_FILE": public, "DATABASE_URL": role_url}
    )
    broker = (
        make_broker(nats.url, client_name=schema, credentials=nats.credentials(schema))
        if nats
        else None
    )
    conninfo = service_conninfo(settings)
    async with (
        AsyncConnectionPool(
            conninfo, min_size=1, max_size=8, open=False, configure=configure
        ) as pool,
        # Data keys on connections of their own, as `serve()` has them: transactions
        # holding every connection of `pool` would otherwise wait for one to seal with.
        AsyncConnectionPool(conninfo, min_size=1, max_size=2, open=False) as key_pool,
    ):
        keys = PostgresDataKeys(key_pool, master or MasterKeys.generate())
        store = EventStore(pool, schema, keys=keys)
        # A broker only when `nats` is given; Temporal only in the cycles service, which is
        # given a client.
        runtime = Runtime(schema, settings, pool, store, broker=broker, temporal=temporal)  # type: ignore[arg-type]
        parts = build(runtime)
        app = parts.api
        app.state.runtime = runtime
        app.state.token_verifier = TokenVerifier(settings)
        transport = httpx.ASGITransport(app=app)
        async with (
            _consuming_and_relaying(parts, store, broker),
            httpx.AsyncClient(transport=transport, base_url=f"http://{schema}") as client,
        ):
            api = api_type(client, private, store)
            api.app = app
            yield api
        await store.close()


@asynccontextmanager
async def _consuming_and_relaying(
    parts: ServiceParts, store: EventStore, broker: NatsBroker | None
) -> AsyncIterator[None]:
    """The service's consumers and outbox relay on `broker` until the block ends; nothing
    without one (the HTTP API alone)."""
    if broker is None:
        yield
        return
    for handler in parts.handlers:
        subscribe(broker, store, handler)
    await broker.start()
    stop = asyncio.Event()
    relay = asyncio.create_task(OutboxRelay(store, broker, poll_interval=0.2).run(stop))
    try:
        yield
    finally:
        stop.set()
        try:
            await asyncio.wait_for(relay, 20)
        finally:
            await broker.stop()


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    """`app` over HTTP on a free port of this machine, for clients that need a real socket
    (the command line); yields its URL."""
    port = free_port()
    config = uvicorn.Config(app, port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    running = asyncio.create_task(server.serve())
    try:
        while not server.started:  # uvicorn says it started only through this flag
            assert not running.done(), "the server stopped before it started"
            await asyncio.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await running


async def command_line(
    monkeypatch: pytest.MonkeyPatch, headers: dict[str, str], *args: object
) -> Result:
    """`talentledger ARGS` with the bearer token of `headers` (`TALENTLEDGER_TOKEN`). The
    command line is synchronous: it runs in a thread while this loop serves it."""
    monkeypatch.setenv("TALENTLEDGER_TOKEN", headers["Authorization"].removeprefix("Bearer "))
    return await asyncio.to_thread(CliRunner().invoke, cli.app, [str(a) for a in args])
