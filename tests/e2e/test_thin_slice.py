"""The thin slice through every service on `talentledger up` (issue: event backbone).

HTTP publish -> framework's log -> relay -> JetStream -> three consumers' read models; a
cycle workflow calling an activity on each service's task queue; one trace across them.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from schemathesis.generation import GenerationMode

from libs.platform.pagination import every_item
from libs.platform.telemetry import read_spans
from talentledger.samples.organisation import as_csv, org_chart
from talentledger.stack.supervisor import SERVICES
from tests.support.hostile_http import fuzz_problems, hostile_input_answers
from tests.support.stack import ROOT, RunningStack, running_stack

CONSUMERS = ("assessment", "development", "promotion")
# Fewer fuzz examples per operation than the in-process run (tests/integration/
# test_http_edge.py), which covers the schemas; here the point is the processes' survival.
STACK_EXAMPLES = {GenerationMode.POSITIVE: 2, GenerationMode.NEGATIVE: 1}
SAMPLE = ROOT / "talentledger" / "samples" / "engineering-framework.yaml"


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
            concrete = re.sub(r"\{[a-z_]+\}", "x", path)
            denied = httpx.get(stack.url(service) + concrete, timeout=10)
            assert denied.status_code in (401, 405), (service, path)
            if denied.status_code == 401:
                assert "bearer token" in denied.json()["detail"]
    forged = {"Authorization": "Bearer not-a-jwt"}
    assert stack.get("assessment", "/framework-versions", forged).status_code == 401


def test_publish_reaches_every_consumer_and_a_cycle_pins_it_across_all_services(
    stack: RunningStack,
) -> None:
    hr = stack.token("hr_admin", "alice")
    employee = stack.token("employee", "bob")
    draft = yaml.safe_load(SAMPLE.read_text(encoding="utf-8"))
    framework = {k: v for k, v in draft.items() if k not in {"format", "id"}}
    drafts = stack.url("framework") + "/frameworks/eng/draft"
    assert httpx.put(drafts, json=framework, headers=employee, timeout=10).status_code == 403
    broken = {**framework, "scale": "0..7"}
    assert httpx.put(drafts, json=broken, headers=hr, timeout=10).status_code == 422

    imported = stack.cli(
        "framework", "import", str(SAMPLE), "--id", "eng", "--publish", "--as", "alice"
    )
    assert "-> eng v1 (initial)" in imported
    history = stack.get("framework", "/frameworks/eng/versions", employee).json()["items"]
    assert [(v["version"], v["actor"]) for v in history] == [(1, "alice")]

    for service in CONSUMERS:
        versions = stack.wait_for(
            lambda s=service: stack.get(s, "/framework-versions", hr).json()["items"],
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
    # Every service pins the version; nobody is in the org chart yet, so the campaign, the
    # next stage, is refused with the reason and the cycle ends there.
    ended = stack.wait_for(
        lambda: (
            (s := stack.get("cycles", f"/cycles/{cycle_id}", hr).json())["status"] != "RUNNING"
            and s
        ),
        60,
        "the cycle to stop at the campaign",
    )
    assert ended["status"] == "FAILED"
    assert "nobody active in the org chart" in ended["failure"]

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
    output = stack.cli("demo", "--people", "60", stall=600)
    assert "COMPLETED" in output
    assert "entries verified" in output
    assert "across assessment, cycles, development, framework, promotion" in output
    # After the cycle three of the strongest and three of the weakest set goals, which stay
    # open until a next calibration; three others mark an action done each, and the LMS
    # closes a fourth's course action.
    assert re.search(r"goals +6 set \(6 check-ins\): 0 met, 0 missed, 6 open", output), output
    assert re.search(r"plan progress +4 of \d+ actions in force done across \d+ plans", output), (
        output
    )
    assert "3 proposed by employees and approved by their managers" in output
    assert output.count("done (a course done by the LMS)") == 1


def test_after_the_demo_logs_and_traces_are_private_and_name_no_one_a_request_was_about(
    stack: RunningStack,
) -> None:
    """The demo's people rated each other through the API; the span files keep the route of
    each request, never whose results it asked for, nor the caller's address (docs/privacy.md).
    """
    files = [*(stack.home / "traces").iterdir(), *(stack.home / "logs").iterdir()]
    assert files
    for file in files:
        assert file.stat().st_mode & 0o077 == 0, f"{file} is readable by others"
    targets = set()
    for span in read_spans(stack.home / "traces"):
        attributes = span["attributes"]
        assert not {"client.address", "net.peer.ip", "http.user_agent"} & attributes.keys()
        if "http.target" in attributes:
            targets.add(attributes["http.target"])
    assert "/campaigns/{campaign_id}/submissions/{subject}" in targets, "raters submitted"
    demo_people = re.compile(r"E\d{5}")
    assert not [t for t in targets if demo_people.search(t)], "a path names a person"


def test_restarting_the_stack_keeps_all_data(stack: RunningStack) -> None:
    hr = stack.token("hr_admin", "alice")
    before = stack.get("assessment", "/framework-versions", hr).json()["items"]
    assert before, "the previous test published a framework"
    stack.cli("down")
    assert "running" not in stack.cli("status")
    stack.cli("up")
    assert stack.get("assessment", "/framework-versions", hr).json()["items"] == before
    history = stack.get("framework", "/frameworks/eng/versions", hr).json()["items"]
    assert history[0]["version"] == 1


FIXTURES = ROOT.parent / "shared" / "fixtures" / "frameworks"


@pytest.mark.skipif(not FIXTURES.is_dir(), reason="../shared/fixtures is not present")
def test_public_frameworks_import_from_the_cli_and_export_back(
    stack: RunningStack, tmp_path: Path
) -> None:
    """docs/domain.md §2 Import and export: whole directories in, every framework back out."""
    hr = stack.token("hr_admin", "alice")
    for source in ("monzo/frameworks", "engineeringladders"):
        report = stack.cli("framework", "import", str(FIXTURES / source), "--as", "alice")
        assert "✗" not in report, report
    assert "skipped, not a framework file" in report, "LICENSE and PROVENANCE are reported"
    draft = stack.get("framework", "/frameworks/engineering-backend/draft", hr).json()
    exported = tmp_path / "backend.yaml"
    stack.cli(
        "framework", "export", "engineering-backend", "--draft", "-o", str(exported), "--as", "a"
    )
    stack.cli("framework", "import", str(exported), "--id", "backend-copy", "--as", "alice")
    copy = stack.get("framework", "/frameworks/backend-copy/draft", hr).json()
    assert copy["framework"] == draft["framework"]


def test_an_hris_export_becomes_the_assessment_org_chart(
    stack: RunningStack, tmp_path: Path
) -> None:
    """docs/domain.md §3: direct reports and manager come from the org chart (HRIS)."""
    chart = org_chart(60, prefix="H")  # not the demo's people
    export = tmp_path / "people.csv"
    export.write_text(as_csv(chart), encoding="utf-8")
    report = stack.cli("hris", "load", str(export), "--as", "alice")
    assert "published 60 hire(s); 0 row(s) refused" in report
    hr = stack.token("hr_admin", "alice")
    last = chart[-1]
    person = stack.wait_for(
        lambda: (
            (r := stack.get("assessment", f"/org-chart/people/{last.employee_id}", hr)).status_code
            == 200
            and r.json()
        ),
        30,
        "the last hire in the org chart",
    )
    assert (person["manager_id"], person["level"]) == (last.manager_id, last.level)
    head = chart[0].employee_id
    reports = every_item(
        lambda params: httpx.get(
            stack.url("assessment") + f"/org-chart/people/{head}/reports",
            params=params,
            headers=hr,
            timeout=10,
        ).json()
    )
    assert sorted(p["employee_id"] for p in reports) == sorted(
        e.employee_id for e in chart if e.manager_id == head
    )
    employee = stack.token("employee", "bob")
    assert stack.get("assessment", f"/org-chart/people/{head}", employee).status_code == 403


def test_hostile_input_and_fuzzing_get_no_5xx_from_the_running_services(
    stack: RunningStack,
) -> None:
    """The service processes as deployed (API, consumers, relay and worker in one process,
    holding the data the tests above made): hostile values on every operation and a
    property-based fuzz run get no 5xx, and every service still serves afterwards."""
    hr = stack.token("hr_admin", "alice")
    problems: list[str] = []
    for service in SERVICES:
        url = stack.url(service)
        answers = hostile_input_answers(url, hr)
        problems += [f"{service}: {answer}" for answer in answers if answer[3] >= 500]
        problems += [f"{service}: {line}" for line in fuzz_problems(url, hr, STACK_EXAMPLES)]
    assert not problems, "\n".join(problems)
    for service in SERVICES:
        assert stack.get(service, "/health", {}).status_code == 200, f"{service} stopped"
    status = stack.cli("status")
    assert "stopped" not in status, status
