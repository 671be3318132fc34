"""The framework service's HTTP API in-process, on a real PostgreSQL, with real tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from psycopg_pool import AsyncConnectionPool

from libs.events.migrations import migrate
from libs.events.store import EventStore
from libs.platform.auth import TokenVerifier, ensure_dev_keypair, mint_token
from libs.platform.runtime import Runtime
from libs.platform.settings import Settings
from services.framework.adapters.postgres.published_versions import MIGRATIONS
from services.framework.service import build

SCHEMA = "framework"


class FrameworkApi:
    """An HTTP client for the service, plus tokens for any subject and roles."""

    def __init__(self, client: httpx.AsyncClient, private_key: Path, store: EventStore) -> None:
        self.client = client
        self.private_key = private_key
        self.store = store

    def as_(self, sub: str, *roles: str) -> dict[str, str]:
        settings = Settings()
        token = mint_token(
            self.private_key,
            sub,
            list(roles),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
        )
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

    async def response(
        self, method: str, path: str, status: int = 200, **kwargs: Any
    ) -> httpx.Response:
        kwargs.setdefault("headers", self.hr)
        response = await self.client.request(method, path, **kwargs)
        assert response.status_code == status, f"{method} {path}: {response.text}"
        return response


@asynccontextmanager
async def framework_api(database_url: str, keys_dir: Path) -> AsyncIterator[FrameworkApi]:
    migrate(database_url, SCHEMA, MIGRATIONS)
    private, public = ensure_dev_keypair(keys_dir)
    settings = Settings.model_validate({"TALENTLEDGER_JWT_PUBLIC_KEY_FILE": public})
    async with AsyncConnectionPool(database_url, min_size=1, max_size=8, open=False) as pool:
        store = EventStore(pool, SCHEMA)
        # The HTTP API uses neither the broker nor Temporal: the relay and worker are elsewhere.
        runtime = Runtime(SCHEMA, settings, pool, store, broker=None, temporal=None)  # type: ignore[arg-type]
        api = build(runtime).api
        api.state.runtime = runtime
        api.state.token_verifier = TokenVerifier(settings)
        transport = httpx.ASGITransport(app=api)
        async with httpx.AsyncClient(transport=transport, base_url="http://framework") as client:
            yield FrameworkApi(client, private, store)
        await store.close()
