"""Who may call each route, declared once per service and published in its OpenAPI document.

Each service keeps a table of its routes (`"METHOD /path"` to an `Access`), and `declare`
attaches each rule to its operation as `x-access`. A route without a rule, or a rule
without a route, stops the service from being built, so no route can be added without
saying who may call it. The rules describe what the routes enforce (through `require_role`
and the services' own entitlement checks); the authorisation matrix test holds every route
to its rule, caller by caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from libs.platform.auth import ROLES

SUBJECT = "subject"
"""The person the route is about (named in its path or body), acting as themself."""
MANAGER = "their-manager"
"""The subject's manager (where the service says so, anyone above them). A rule naming the
`manager` role instead admits every holder of that role."""
ANYONE = "anyone"
"""Any authenticated caller, each acting as themself: the route shows only their own."""
PUBLIC = "public"
"""No token needed."""
RELATIONS = (SUBJECT, MANAGER)


@dataclass(frozen=True)
class Access:
    """The callers a route serves: roles (any holder), relations to the subject, `anyone`
    or `public`. Every other authenticated caller gets `refused`."""

    allow: tuple[str, ...]
    refused: int = 403

    def __post_init__(self) -> None:
        unknown = set(self.allow) - {*ROLES, *RELATIONS, ANYONE, PUBLIC}
        if unknown or not self.allow:
            raise ValueError(
                f"access rule {self.allow!r}: name roles {list(ROLES)}, relations "
                f"{list(RELATIONS)}, {ANYONE!r} or {PUBLIC!r}"
            )

    def extension(self) -> dict[str, Any]:
        return {"x-access": {"allow": list(self.allow), "refused": self.refused}}


def allow(*callers: str, refused: int = 403) -> Access:
    return Access(tuple(callers), refused)


HEALTH = {"GET /health": allow(PUBLIC)}
"""The liveness route every service serves (see `create_api`)."""


HTTP_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options", "trace"})


def declare(api: FastAPI, rules: Mapping[str, Access]) -> None:
    """Publish each route's rule in its OpenAPI operation as `x-access`. The routes are
    checked against the rules here, so that a route without a rule (or a rule without a
    route) stops the service at build; the document itself is generated when first asked
    for, as generating it costs far more than building the service."""
    table = {**HEALTH, **rules}
    operations = {
        f"{method} {route.path_format}"
        for route in iter_route_contexts(api.routes)  # routes of included routers too
        if isinstance(route.original_route, APIRoute) and route.include_in_schema
        for method in route.methods
    }
    undeclared = sorted(operations - set(table))
    unrouted = sorted(set(table) - operations)
    if undeclared or unrouted:
        raise ValueError(
            f"{api.title}: every route needs exactly one access rule; "
            f"routes without a rule: {undeclared}; rules without a route: {unrouted}"
        )
    generate = api.openapi

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is not None:
            return api.openapi_schema
        schema = generate()
        for path, item in schema.get("paths", {}).items():
            for method, operation in item.items():
                if method in HTTP_METHODS:
                    operation.update(table[f"{method.upper()} {path}"].extension())
        return schema

    api.openapi_schema = None  # a document generated earlier would lack the rules
    api.openapi = openapi  # type: ignore[method-assign]
