"""The database side of a stack: roles, then migrations as the owner, then one URL a service.

`talentledger up` runs `prepare` with the URL of a role allowed to create roles (the
embedded superuser, or `DATABASE_URL` when it names an external server);
`talentledger db migrate` runs `migrate_services` as the owner role for deployments that
create the roles themselves (`talentledger db roles`). Both migrate the `privacy` schema of
personal data keys too, which every service seals and opens through, and which only the
cycles service's role may destroy keys in.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

import psycopg

from libs.events.migrations import migrate
from libs.events.migrations.roles import OWNER_ROLE, PasswordFile, provision, service_role
from libs.personal import vault

if TYPE_CHECKING:
    from libs.platform.runtime import ServiceDefinition

# Its erasure workflow destroys a person's data keys (docs/privacy.md, Requests).
KEY_ERASING_SERVICE = "cycles"


def definition(service: str) -> ServiceDefinition:
    module = importlib.import_module(f"services.{service}.service")
    found: ServiceDefinition = module.definition
    return found


def migrate_services(owner_url: str, services: Sequence[str]) -> None:
    """Migrate every service's schema as the owner, and bring its role's grants in step."""
    for name in services:
        service = definition(name)
        migrate(owner_url, service.name, *service.migrations, service_role=service_role(name))
    migrate_personal_data_keys(owner_url, [service_role(name) for name in services])


def migrate_personal_data_keys(owner_url: str, roles: Sequence[str]) -> None:
    """Migrate the schema of each person's data key (docs/privacy.md) as the owner, and let
    every service role make and read keys through its functions; only the cycles service's
    role, when among `roles`, may also destroy them."""
    migrate(owner_url, vault.SCHEMA, vault.MIGRATIONS)
    erasing = service_role(KEY_ERASING_SERVICE)
    sealing = [role for role in roles if role != erasing]
    grants = vault.grant_statements(sealing, erasing if erasing in roles else None)
    with psycopg.connect(owner_url) as conn:  # one transaction: every grant or none
        for statement in grants:
            conn.execute(statement)


def prepare(admin_url: str, services: Sequence[str], passwords: PasswordFile) -> dict[str, str]:
    """Create the roles, migrate as the owner; return each service's own database URL."""
    provision(admin_url, services, passwords)
    migrate_services(passwords.url(admin_url, OWNER_ROLE), services)
    return {name: passwords.url(admin_url, service_role(name)) for name in services}
