"""Pagination of list endpoints, on the framework service and PostgreSQL: `limit` and
`cursor` in, `{items, next_cursor}` out; opaque cursors bound to their list and caller;
a bad cursor or a limit over the maximum is a 422 with a body saying what to do."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from libs.platform.pagination import MAX_LIMIT
from tests.support.framework_api import FrameworkApi, framework_api
from tests.support.sample_frameworks import valid_framework


async def publish(api: FrameworkApi, framework_id: str) -> None:
    framework = valid_framework().model_dump(mode="json")
    await api.ok("PUT", f"/frameworks/{framework_id}/draft", json=framework)
    await api.ok("POST", f"/frameworks/{framework_id}/versions", 201, json={})


@pytest.fixture
async def api(database_url: str, tmp_path: Path) -> AsyncIterator[FrameworkApi]:
    async with framework_api(database_url, tmp_path / "keys") as api:
        for framework_id in ("fw-a", "fw-c", "fw-e"):
            await publish(api, framework_id)
        yield api


async def page(api: FrameworkApi, status: int = 200, **params: Any) -> Any:
    return await api.ok("GET", "/frameworks", status, params=params, headers=api.employee)


def ids(body: dict[str, Any]) -> list[str]:
    return [v["framework_id"] for v in body["items"]]


async def test_pages_walk_the_whole_list_and_an_insertion_between_pages_repeats_nothing(
    api: FrameworkApi,
) -> None:
    whole = await page(api)
    assert ids(whole) == ["fw-a", "fw-c", "fw-e"]
    assert whole["next_cursor"] is None
    first = await page(api, limit=2)
    assert ids(first) == ["fw-a", "fw-c"]
    await publish(api, "fw-b")  # lands before the cursor's position
    second = await page(api, limit=2, cursor=first["next_cursor"])
    assert ids(second) == ["fw-e"]
    assert second["next_cursor"] is None
    assert await api.items("/frameworks", headers=api.employee) == (await page(api))["items"]


async def test_a_limit_out_of_range_or_a_cursor_that_is_not_one_is_a_422_saying_why(
    api: FrameworkApi,
) -> None:
    over = await page(api, 422, limit=MAX_LIMIT + 1)
    assert over["detail"][0]["loc"] == ["query", "limit"], over
    await page(api, 422, limit=0)
    await page(api, 422, cursor="not base64!")
    garbled = await page(api, 422, cursor="bm90LWpzb24")  # "not-json"
    assert "invalid cursor" in garbled["detail"]
    assert "leave `cursor` out" in garbled["detail"]
    forged = base64.urlsafe_b64encode(json.dumps({"o": 1}).encode()).decode().rstrip("=")
    assert "not one this service issued" in (await page(api, 422, cursor=forged))["detail"]
    # Authentication comes first: no token, whatever the parameters, is a 401.
    response = await api.client.get("/frameworks", params={"limit": MAX_LIMIT + 1})
    assert response.status_code == 401


async def test_a_cursor_serves_only_the_list_filter_and_caller_it_was_issued_for(
    api: FrameworkApi,
) -> None:
    cursor = (await page(api, limit=1))["next_cursor"]
    assert cursor is not None
    # Another caller, even with more rights, cannot continue someone else's list.
    other = await api.ok("GET", "/frameworks", 422, params={"cursor": cursor}, headers=api.hr)
    assert "another list, filter or caller" in other["detail"]
    versions = "/frameworks/fw-a/versions"
    await api.ok("GET", versions, 422, params={"cursor": cursor}, headers=api.employee)
    # A cursor for a list the caller may not read gets them nothing: rights come first.
    reviews = "/frameworks/fw-a/anchor-reviews"
    await api.ok("GET", reviews, 403, params={"cursor": cursor}, headers=api.employee)


async def test_every_list_in_the_openapi_document_is_paged_with_its_maximum_stated(
    api: FrameworkApi,
) -> None:
    schema = await api.ok("GET", "/openapi.json", headers={})
    operation = schema["paths"]["/frameworks"]["get"]
    limit = next(p for p in operation["parameters"] if p["name"] == "limit")
    assert limit["schema"]["maximum"] == MAX_LIMIT
    ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    page_schema = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert set(page_schema["required"]) == {"items", "next_cursor"}
