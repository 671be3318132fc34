"""The embedded stack's NATS identities: one NKey user per service, integration and operator.

Seeds are generated once per install under `<home>/keys/nats/<identity>.nk` (mode 0600)
and never leave the machine; the server configuration holds only their public keys. What
each identity may do is derived from the code: a service's subscriptions from the event
handlers it builds, and its rights on the intake from the outside systems it admits (see
libs.events.identities).
"""

from __future__ import annotations

import asyncio
import importlib
import os
from collections.abc import Sequence
from pathlib import Path

from faststream.nats import NatsBroker
from psycopg_pool import AsyncConnectionPool

from libs.events.broker import ensure_streams
from libs.events.identities import (
    OPERATOR,
    Credentials,
    Permissions,
    authorization,
    integration_permissions,
    new_user_seed,
    service_permissions,
)
from libs.events.intake import OUTSIDE_CONTEXTS
from libs.events.store import EventStore
from libs.platform.runtime import Runtime, ServiceParts, broker_for
from libs.platform.settings import Settings

INTEGRATIONS = OUTSIDE_CONTEXTS
# Stream management, `events replay-dead-letters`, the operator's own tools.
OPERATOR_IDENTITY = "operator"


def identity_dir(home: Path) -> Path:
    return home.absolute() / "keys" / "nats"


def credentials_file(home: Path, identity: str) -> Path:
    return identity_dir(home) / f"{identity}.nk"


def ensure_identities(directory: Path, identities: Sequence[str]) -> dict[str, Credentials]:
    """Create the seeds in `directory` that do not exist yet; return every identity's."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    found: dict[str, Credentials] = {}
    for identity in identities:
        path = directory / f"{identity}.nk"
        if not path.exists():
            # Created owner-only from the start: the seed is never readable by others.
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(new_user_seed())
        found[identity] = Credentials(path)
    return found


def service_parts(service: str, settings: Settings) -> ServiceParts:
    """The parts the service builds (its event handlers, the outside systems it admits), read
    from its definition without connecting.

    The parts are built on a runtime whose connections are never opened: building wires
    objects together and touches no server.
    """
    definition = importlib.import_module(f"services.{service}.service").definition
    pool = AsyncConnectionPool("", open=False)
    runtime = Runtime(service, settings, pool, EventStore(pool, service), NatsBroker(), None)  # type: ignore[arg-type]
    parts: ServiceParts = definition.build(runtime)
    return parts


def broker_users(
    directory: Path, services: Sequence[str], settings: Settings
) -> list[tuple[str, Permissions]]:
    """Every identity's public key and permissions, its seed kept in `directory`."""
    identities = ensure_identities(directory, (*services, *INTEGRATIONS, OPERATOR_IDENTITY))
    users: list[tuple[str, Permissions]] = []
    for service in services:
        key = identities[service].public_key
        parts = service_parts(service, settings)
        rights = service_permissions(service, key, parts.handlers, parts.admits)
        users.append((key, rights))
    for source in INTEGRATIONS:
        key = identities[source].public_key
        users.append((key, integration_permissions(source, key)))
    users.append((identities[OPERATOR_IDENTITY].public_key, OPERATOR))
    return users


def server_authorization(home: Path, services: Sequence[str], settings: Settings) -> str:
    """The embedded nats-server's `authorization` block for the install under `home`."""
    return authorization(broker_users(identity_dir(home), services, settings))


def setup_streams(settings: Settings) -> None:
    """Create or update the streams as the configured identity (the operator's: services
    may only read them), before any service needs them."""

    async def run() -> None:
        broker = broker_for(settings, "stream-setup")
        await broker.connect()
        try:
            await ensure_streams(broker, settings)
        finally:
            await broker.stop()

    asyncio.run(run())
