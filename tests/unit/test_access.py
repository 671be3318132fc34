"""Access rules: a route cannot be added without saying who may call it."""

from __future__ import annotations

import pytest
from fastapi import APIRouter, FastAPI

from libs.platform.access import allow, declare
from libs.platform.runtime import create_api
from services.cycles.adapters import http, privacy_http
from services.cycles.adapters.access import ACCESS


def cycles_api() -> FastAPI:
    """The cycles service's routes, before their rules are declared."""
    api = create_api("cycles", "")
    api.include_router(http.router)
    api.include_router(privacy_http.router)
    return api


def test_a_route_without_a_rule_stops_the_service_at_build() -> None:
    api = cycles_api()
    extra = APIRouter()

    @extra.get("/cycles/{cycle_id}/secrets")
    async def secrets(cycle_id: str) -> dict[str, str]:
        return {"cycle_id": cycle_id}

    api.include_router(extra)
    with pytest.raises(ValueError, match=r"without a rule: \['GET /cycles/\{cycle_id\}/secrets'\]"):
        declare(api, ACCESS)


def test_a_rule_without_a_route_is_refused_too() -> None:
    api = cycles_api()
    with pytest.raises(ValueError, match=r"rules without a route: \['GET /cycles/gone'\]"):
        declare(api, {**ACCESS, "GET /cycles/gone": allow("hr_admin")})


def test_each_operation_publishes_its_rule() -> None:
    api = cycles_api()
    declare(api, ACCESS)
    paths = api.openapi()["paths"]
    assert paths["/cycles/{cycle_id}"]["delete"]["x-access"] == {
        "allow": ["hr_admin"],
        "refused": 403,
    }
    assert paths["/health"]["get"]["x-access"]["allow"] == ["public"]


def test_a_rule_names_only_roles_relations_anyone_or_public() -> None:
    with pytest.raises(ValueError, match="name roles"):
        allow("superuser")
