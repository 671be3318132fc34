"""Every service's HTTP API served by uvicorn on a real port, as `serve()` serves it, on the
test session's PostgreSQL and Temporal, with development tokens. The APIs share one event
loop in a background thread; consumers, relay and workers are not started (the edge is what
is tested), so the broker is not needed."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn
from psycopg_pool import AsyncConnectionPool

from libs.events.store import EventStore
from libs.personal.vault import MasterKeys, PostgresDataKeys
from libs.platform import temporal
from libs.platform.auth import TokenMinter, TokenVerifier, ensure_dev_keypair
from libs.platform.database import service_conninfo
from libs.platform.runtime import Runtime, ServiceDefinition
from libs.platform.settings import Settings
from services.assessment.service import definition as assessment
from services.cycles.service import definition as cycles
from services.development.service import definition as development
from services.framework.service import definition as framework
from services.promotion.service import definition as promotion
from talentledger.stack.servers import free_port
from tests.support.service_api import service_database_url

DEFINITIONS: tuple[ServiceDefinition, ...] = (framework, assessment, development, promotion, cycles)
SERVICES = tuple(definition.name for definition in DEFINITIONS)


@dataclass
class LiveService:
    name: str
    url: str

    def serving(self) -> bool:
        try:
            return httpx.get(f"{self.url}/health", timeout=10).status_code == 200
        except httpx.HTTPError:
            return False


@dataclass
class LiveServices:
    services: dict[str, LiveService]
    minter: TokenMinter

    def headers(self, sub: str, *roles: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.minter.mint(sub, list(roles))}"}


async def _serve(
    settings: Settings,
    ports: dict[str, int],
    ready: Future[None],
    stop: asyncio.Event,
) -> None:
    database_url = settings.require_database_url()
    client = await temporal.connect(
        settings.require_temporal_address(), temporal.PayloadKeys.generate(), "default"
    )
    servers: list[uvicorn.Server] = []
    master = MasterKeys.generate()  # every service's, as each person's keys are
    async with AsyncExitStack() as resources:
        for definition in DEFINITIONS:
            # Migrated as the owner, served as the service's own role, as deployed.
            role_url = await asyncio.to_thread(
                service_database_url,
                database_url,
                definition.name,
                settings.home / "keys",
                *definition.migrations,
            )
            served = settings.model_copy(update={"database_url": role_url})
            pool = AsyncConnectionPool(service_conninfo(served), min_size=1, max_size=4, open=False)
            await resources.enter_async_context(pool)
            store = EventStore(pool, definition.name, keys=PostgresDataKeys(pool, master))
            runtime = Runtime(definition.name, served, pool, store, None, client)  # type: ignore[arg-type]
            api = definition.build(runtime).api
            api.state.runtime = runtime
            api.state.token_verifier = TokenVerifier(settings)
            config = uvicorn.Config(
                api,
                host="127.0.0.1",
                port=ports[definition.name],
                log_level="warning",
                lifespan="off",
            )
            servers.append(uvicorn.Server(config))
        tasks = [asyncio.create_task(server.serve()) for server in servers]
        while not all(server.started for server in servers):
            if any(task.done() for task in tasks):
                break
            await asyncio.sleep(0.05)
        ready.set_result(None)
        await stop.wait()
        for server in servers:
            server.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)


@contextmanager
def live_services(
    home: Path, *, database_url: str, temporal_address: str
) -> Iterator[LiveServices]:
    """Serve every service's API until the block ends."""
    private, public = ensure_dev_keypair(home / "keys")
    settings = Settings.model_validate(
        {
            "DATABASE_URL": database_url,
            "TALENTLEDGER_HOME": home,
            "TEMPORAL_ADDRESS": temporal_address,
            "TALENTLEDGER_JWT_PUBLIC_KEY_FILE": public,
        }
    )
    ports = {name: free_port() for name in SERVICES}
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    ready: Future[None] = Future()
    failed: list[BaseException] = []

    def run() -> None:
        try:
            loop.run_until_complete(_serve(settings, ports, ready, stop))
        except BaseException as error:  # noqa: BLE001 (reported to the test through `ready`)
            failed.append(error)
            if not ready.done():
                ready.set_exception(error)
        finally:
            loop.close()

    thread = threading.Thread(target=run, name="live-services", daemon=True)
    thread.start()
    try:
        ready.result(timeout=180)
        live = {name: LiveService(name, f"http://127.0.0.1:{port}") for name, port in ports.items()}
        for service in live.values():
            assert service.serving(), f"the {service.name} API did not start"
        minter = TokenMinter(private, issuer=settings.jwt_issuer, audience=settings.jwt_audience)
        yield LiveServices(live, minter)
    finally:
        if not loop.is_closed():
            loop.call_soon_threadsafe(stop.set)
        thread.join(60)
        assert not failed, failed
