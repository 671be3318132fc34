"""The thin slice through every service on `talentledger up` (issue: event backbone).

HTTP publish -> framework's log -> relay -> JetStream -> three consumers' read models; a
cycle workflow calling an activity on each service's task queue; one trace across them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

import httpx
import pytest

from libs.platform.telemetry import read_spans
from tests.support.stack import RunningStack, running_stack

CONSUMERS = ("assessment", "development", "promotion")
DRAFT = {
    "name": "Engineering",
    "levels": [
        {"code": "L1", "name": "Engineer", "track": "ic", "rank": 1},
        {"code": "L2", "name": "Senior engineer", "track": "ic", "rank": 2},
        {"code": "M1", "name": "Engineering manager", "track": "manager", "rank": 1},
    ],
    "competencies": [
        {"key": "collaboration", "name": "Collaboration", "kind": "core", "nature": "behavioural"},
        {
            "key": "system-design",
            "name": "System design",
            "kind": "functional",
            "nature": "technical",
        },
    ],
}


@pytest.fixture(scope="module")
def stack() -> Iterator[RunningStack]:
    with running_stack() as running:
        yield running


def services_spanned_by_one_trace(stack: RunningStack) -> list[set[str]]:
    services: dict[str, set[str]] = defaultdict(set)
    for span in read_spans(stack.home / "traces"):
        services[span["context"]["trace_id"]].add(span["resource"]["attributes"]["service.name"])
    return sorted(services.values(), key=len, reverse=True)


def test_every_endpoint_needs_a_bearer_token(stack: RunningStack) -> None:
    for service in (*CONSUMERS, "framework", "cycles"):
        response = httpx.get(stack.url(service) + "/openapi.json", timeout=10)
        assert response.status_code == 200
        paths = [p for p in response.json()["paths"] if p != "/health"]
        assert paths, f"{service} has an API"
        for path in paths:
            concrete = path.replace("{framework_id}", "eng").replace("{cycle_id}", "c-1")
            denied = httpx.get(stack.url(service) + concrete, timeout=10)
            assert denied.status_code in (401, 405), (service, path)
            if denied.status_code == 401:
                assert "bearer token" in denied.json()["detail"]
    forged = {"Authorization": "Bearer not-a-jwt"}
    assert stack.get("assessment", "/framework-versions", forged).status_code == 401


def test_publish_reaches_every_consumer_and_a_cycle_runs_across_all_services(
    stack: RunningStack,
) -> None:
    hr = stack.token("hr_admin", "alice")
    employee = stack.token("employee", "bob")
    assert (
        httpx.post(
            stack.url("framework") + "/frameworks/eng/versions", json=DRAFT, headers=employee
        ).status_code
        == 403
    )
    bad = httpx.post(
        stack.url("framework") + "/frameworks/eng/versions",
        json={**DRAFT, "scale_max": 7},
        headers=hr,
    )
    assert bad.status_code == 422
    assert "scale 0..7" in bad.json()["detail"]["message"]

    published = httpx.post(
        stack.url("framework") + "/frameworks/eng/versions", json=DRAFT, headers=hr, timeout=10
    )
    assert published.status_code == 201, published.text
    assert published.json()["version"] == 1

    for service in CONSUMERS:
        versions = stack.wait_for(
            lambda s=service: stack.get(s, "/framework-versions", hr).json(),
            30,
            f"{service} replica",
        )
        assert [(v["framework_id"], v["version"]) for v in versions] == [("eng", 1)]

    started = httpx.post(
        stack.url("cycles") + "/cycles",
        json={"framework": {"framework_id": "eng"}},
        headers=hr,
        timeout=10,
    )
    assert started.status_code == 202, started.text
    cycle_id = started.json()["cycle_id"]
    outcome = stack.wait_for(
        lambda: (
            (s := stack.get("cycles", f"/cycles/{cycle_id}", hr).json())["status"] == "COMPLETED"
            and s
        ),
        60,
        "the cycle",
    )
    assert outcome["outcome"]["framework"] == {"framework_id": "eng", "version": 1}
    assert sorted(c["service"] for c in outcome["outcome"]["confirmations"]) == sorted(CONSUMERS)

    # The HTTP call, workflow, activities, relay and consumers share trace ids.
    publish_trace = {"framework", *CONSUMERS}
    cycle_trace = {"cycles", "framework", *CONSUMERS}
    stack.wait_for(
        lambda: (
            {frozenset(publish_trace), frozenset(cycle_trace)}
            <= {frozenset(s) for s in services_spanned_by_one_trace(stack)}
        ),
        15,
        "one trace per flow spanning its services",
    )


def test_a_cycle_on_an_unpublished_framework_fails_with_the_reason(stack: RunningStack) -> None:
    hr = stack.token("hr_admin", "alice")
    started = httpx.post(
        stack.url("cycles") + "/cycles",
        json={"framework": {"framework_id": "nowhere"}},
        headers=hr,
        timeout=10,
    )
    cycle_id = started.json()["cycle_id"]
    ended = stack.wait_for(
        lambda: (
            (s := stack.get("cycles", f"/cycles/{cycle_id}", hr).json())["status"] != "RUNNING"
            and s
        ),
        30,
        "the cycle to fail",
    )
    assert ended["status"] == "FAILED"
    assert "framework 'nowhere' has no published version yet" in ended["failure"]
    unknown = stack.get("cycles", "/cycles/cycle-unknown", hr)
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "cycle 'cycle-unknown' not found"}


def test_the_demo_runs_a_cycle_on_the_running_stack(stack: RunningStack) -> None:
    output = stack.cli("demo")
    assert "COMPLETED" in output
    assert "pinned by        assessment, development, promotion" in output


def test_restarting_the_stack_keeps_all_data(stack: RunningStack) -> None:
    hr = stack.token("hr_admin", "alice")
    before = stack.get("assessment", "/framework-versions", hr).json()
    assert before, "the previous test published a framework"
    stack.cli("down")
    assert "running" not in stack.cli("status")
    stack.cli("up")
    assert stack.get("assessment", "/framework-versions", hr).json() == before
    assert stack.get("framework", "/frameworks/eng/versions", hr).json()[0]["version"] == 1
