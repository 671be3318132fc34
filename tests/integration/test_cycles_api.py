"""The cycles HTTP API on PostgreSQL and Temporal's time-skipping server: who may start,
follow, steer and acknowledge, and what each is refused.

The services' activities are the workflow test's stand-ins (their gap review waits on
MANAGERS); the API, the workflow and its update validator are the real ones.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from libs.workflows.messages import (
    grant_digest,
)
from services.cycles import service as cycles_service
from services.cycles.workflows.review_cycle import CycleRequest
from tests.support.review_cycle import CONVERTER, MANAGERS, Cycles, running_cycles
from tests.support.service_api import ServiceApi, in_process

START = {"framework": {"framework_id": "product-engineering"}, "last_number": 1}
LEAD, OTHER_LEAD = MANAGERS[0], "emp-lead-z"


@dataclass
class CyclesApi:
    api: ServiceApi
    cycles: Cycles

    @property
    def lead(self) -> dict[str, str]:
        return self.api.as_(LEAD, "manager")

    async def start(self) -> str:
        return (await self.api.ok("POST", "/cycles", 202, json=START))["cycle_id"]

    async def at_gap_review(self) -> str:
        """A cycle started by HR, driven through HR's routes to its gap review."""
        cycle = await self.start()
        handle = self.cycles.env.client.get_workflow_handle(cycle)
        await self.cycles.reach(handle, "campaign open")
        await self.api.ok("POST", f"/cycles/{cycle}/close-campaign", 202)
        await self.cycles.reach(handle, "calibration")
        body = {"session_id": f"{cycle}.1.calibration"}
        await self.api.ok("POST", f"/cycles/{cycle}/calibration-completed", 202, json=body)
        await self.cycles.reach(handle, "gap review")
        return cycle


@pytest.fixture
async def cycles_api(database_url: str, tmp_path: Path) -> AsyncIterator[CyclesApi]:
    async with (
        running_cycles() as cycles,
        in_process(
            ServiceApi,
            cycles_service.build,
            "cycles",
            [],
            database_url,
            tmp_path,
            cycles.env.client,
        ) as api,
    ):
        yield CyclesApi(api, cycles)


async def test_starting_records_who_started_the_cycle(cycles_api: CyclesApi) -> None:
    """CycleRequested names the signed-in starter and the hash of the grant the workflow
    carries (encrypted, in its input), which the services check."""
    cycle = await cycles_api.start()
    [requested] = await cycles_api.api.store.read_stream(f"cycle-{cycle}")
    assert requested.event_type == "CycleRequested"
    assert requested.actor == "hannah-hr"
    history = await cycles_api.cycles.env.client.get_workflow_handle(cycle).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    [request] = await CONVERTER.decode(started.input.payloads, [CycleRequest])
    assert len(request.grant) >= 40
    assert requested.payload == {
        "series_id": cycle,
        "requested_by": "hannah-hr",
        "roles": ["hr_admin"],
        "grant_sha256": grant_digest(request.grant),
    }


async def test_every_route_refuses_no_token_and_the_wrong_role(cycles_api: CyclesApi) -> None:
    api = cycles_api.api
    cycle = await cycles_api.start()
    employee, lead = api.employee, cycles_api.lead
    routes: list[tuple[str, str, dict[str, Any] | None, list[dict[str, str]]]] = [
        ("POST", "/cycles", START, [employee, lead]),
        ("GET", f"/cycles/{cycle}", None, [employee, lead]),
        ("GET", f"/cycles/{cycle}/waiting-on-me", None, [employee]),
        ("POST", f"/cycles/{cycle}/pause", None, [employee, lead]),
        ("POST", f"/cycles/{cycle}/resume", None, [employee, lead]),
        ("POST", f"/cycles/{cycle}/close-campaign", None, [employee, lead]),
        ("POST", f"/cycles/{cycle}/start-next-cycle", None, [employee, lead]),
        ("POST", f"/cycles/{cycle}/calibration-completed", {"session_id": "s"}, [employee, lead]),
        ("DELETE", f"/cycles/{cycle}", None, [employee, lead]),
        # Acknowledging for someone else is HR's.
        ("POST", f"/cycles/{cycle}/gap-review/acknowledgements", {"manager": LEAD}, [employee]),
    ]
    for method, path, body, wrong in routes:
        response = await api.client.request(method, path, json=body)
        assert response.status_code == 401, f"{method} {path} without a token: {response.text}"
        for headers in wrong:
            response = await api.client.request(method, path, json=body, headers=headers)
            assert response.status_code == 403, f"{method} {path}: {response.text}"
            assert response.json()["detail"]
    status = await api.ok("GET", f"/cycles/{cycle}")
    assert (status["status"], status["progress"]["paused"]) == ("RUNNING", False), "unchanged"


async def test_only_a_manager_the_gap_review_waits_on_acknowledges_and_only_once(
    cycles_api: CyclesApi,
) -> None:
    """The issue's acceptance: an employee gets 403 acknowledging for a cycle that does not
    wait on them, and on its status; a second acknowledgement is refused (409)."""
    api = cycles_api.api
    ack = "/gap-review/acknowledgements"
    early = await cycles_api.start()
    refused = await api.response(
        "POST", f"/cycles/{early}{ack}", 409, json={}, headers=cycles_api.lead
    )
    assert "only in gap review" in refused.json()["detail"]

    cycle = await cycles_api.at_gap_review()
    waiting = f"/cycles/{cycle}/waiting-on-me"
    assert await api.ok("GET", waiting, headers=cycles_api.lead) == {
        "cycle_id": cycle,
        "waiting_on_you": True,
    }
    other = api.as_(OTHER_LEAD, "manager")
    assert (await api.ok("GET", waiting, headers=other))["waiting_on_you"] is False
    await api.response("GET", f"/cycles/{cycle}", 403, headers=api.employee)
    await api.response("GET", f"/cycles/{cycle}", 403, headers=cycles_api.lead)

    for stranger in (api.employee, other):
        response = await api.response(
            "POST", f"/cycles/{cycle}{ack}", 403, json={}, headers=stranger
        )
        assert "does not wait on" in response.json()["detail"]
    done = await api.ok("POST", f"/cycles/{cycle}{ack}", 202, json={}, headers=cycles_api.lead)
    assert done == {"cycle_id": cycle, "manager": LEAD, "still_waiting_on": 1}
    again = await api.response(
        "POST", f"/cycles/{cycle}{ack}", 409, json={}, headers=cycles_api.lead
    )
    assert "already" in again.json()["detail"]
    assert (await api.ok("GET", waiting, headers=cycles_api.lead))["waiting_on_you"] is False

    # HR acknowledges for the last manager; the cycle moves on and takes no more.
    await api.ok("POST", f"/cycles/{cycle}{ack}", 202, json={"manager": MANAGERS[1]})
    handle = cycles_api.cycles.env.client.get_workflow_handle(cycle)
    outcome = await handle.result()
    assert outcome["acknowledged"] == sorted(MANAGERS)
    await api.response("POST", f"/cycles/{cycle}{ack}", 409, json={}, headers=cycles_api.lead)
    # Refused updates leave no trace in the history: strangers cannot grow it.
    history = await handle.fetch_history()
    updates = [
        e
        for e in history.events
        if e.HasField("workflow_execution_update_accepted_event_attributes")
    ]
    assert len(updates) == 2


async def test_an_unknown_cycle_is_404_for_hr(cycles_api: CyclesApi) -> None:
    await cycles_api.api.response("GET", "/cycles/cycle-nope", 404)
    await cycles_api.api.response("GET", "/cycles/cycle-nope/waiting-on-me", 404)


async def test_hr_steers_the_cycle_through_the_api_as_the_tokens_subject(
    cycles_api: CyclesApi,
) -> None:
    """The API sends each steering signal with its sender, the authenticated HR user: without
    one the workflow would ignore it (services/cycles/workflows/review_cycle.py)."""
    api = cycles_api.api
    cycle = await cycles_api.start()
    handle = cycles_api.cycles.env.client.get_workflow_handle(cycle)
    await cycles_api.cycles.reach(handle, "campaign open")
    await api.ok("POST", f"/cycles/{cycle}/pause", 202)
    await eventually_paused(api, cycle, True)
    await api.ok("POST", f"/cycles/{cycle}/resume", 202)
    await eventually_paused(api, cycle, False)


async def eventually_paused(api: ServiceApi, cycle: str, paused: bool) -> None:
    for _ in range(200):
        status = await api.ok("GET", f"/cycles/{cycle}")
        if status["progress"]["paused"] is paused:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the cycle never reported paused={paused}")
