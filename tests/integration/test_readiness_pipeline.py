"""The readiness pipeline (docs/domain.md §6), on PostgreSQL through the promotion service's
HTTP API: per department and position, the people of the latest calibration ready for their
next level, awaiting a case and not ready, as counted by hand; time at level from the org
chart's level start; leavers out and people moved since the calibration counted apart; the
CSV the same as the JSON, a department named like a formula written as text; HR only; and
`talentledger report readiness` asking the service on a real socket.

Calibrations, the org chart and the framework arrive through the service's own handlers, as
its consumers deliver them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from libs.events.schemas.hris import EmployeeLeft
from libs.platform.spreadsheets import restore
from libs.replicas.framework_versions import MIGRATIONS as FRAMEWORK_MIGRATIONS
from libs.replicas.org_chart import MIGRATIONS as ORG_CHART_MIGRATIONS
from services.promotion.adapters.postgres import MIGRATIONS
from services.promotion.domain.criteria_preview import MOVED
from services.promotion.service import build
from tests.support.calibrations import calibration
from tests.support.promotion_api import AUDITOR, LEAD, SCHEMA, WEAK, Stack, seeded
from tests.support.replica_seeding import change, hire, hired, role_changed
from tests.support.service_api import ServiceApi, command_line, in_process, serving

ALL_4 = dict.fromkeys(WEAK, 4.0)
FORMULA = "=cmd|' /C calc'!A0"
# Hired on 2 January 2024 unless said otherwise; the service judges time at level today.
#   Platform L3 -> L4:  p0..p2 ALL_4                          awaiting a case (3)
#                       w0, w1 WEAK (average 2.9, coding 2.5) not ready: average, floor coding
#                       new ALL_4, at L3 since ten days ago   not ready: time at level
#     -> 6 people, 0 ready, 3 awaiting, 3 not ready; average and coding's floor 2 each,
#        time at level 1: "average" (the first name of the most missed), 2.
#   FORMULA L2 -> L3:   x0 ALL_4 awaiting; x1 WEAK not ready: "average", 1.
#   Not counted: gone (left since), up (at L4 since the calibration: counted apart).
AT_L3 = {"emp-p0": ALL_4, "emp-p1": ALL_4, "emp-p2": ALL_4, "emp-w0": WEAK, "emp-w1": WEAK}
ELSEWHERE = {"emp-new": ALL_4, "emp-gone": ALL_4, "emp-up": ALL_4}
AT_L2 = {"emp-x0": ALL_4, "emp-x1": WEAK}


@pytest.fixture
async def stack(database_url: str, tmp_path: Path) -> AsyncIterator[Stack]:
    migrations = [FRAMEWORK_MIGRATIONS, ORG_CHART_MIGRATIONS, MIGRATIONS]
    async with in_process(ServiceApi, build, SCHEMA, migrations, database_url, tmp_path) as api:
        stack = Stack(api, await seeded(api))
        await hire(
            api.store,
            *(hired(p, LEAD, "ic", "L3") for p in [*AT_L3, "emp-gone", "emp-up"]),
            hired("emp-new", LEAD, "ic", "L2"),
            *(hired(p, LEAD, "ic", "L2", department=FORMULA) for p in AT_L2),
        )
        await change(api.store, 2, role_changed("emp-new", date.today() - timedelta(days=10), "L3"))
        everyone = {**AT_L3, **ELSEWHERE, **AT_L2}
        await stack.calibrate(calibration("s1", everyone, levels=dict.fromkeys(AT_L2, "L2")))
        await change(
            api.store,
            2,
            EmployeeLeft(employee_id="emp-gone", effective_on=date(2026, 2, 27)),
            role_changed("emp-up", date(2026, 2, 1), "L4"),
        )
        yield stack


def row(department: str, level: str, counts: tuple[int, ...], unmet: str, missing: int) -> dict:
    people, ready, awaiting, not_ready = counts
    return {
        "department": department,
        "family": "eng",
        "track": "ic",
        "level": level,
        "to_level": f"L{int(level[1]) + 1}",
        "people": people,
        "ready": ready,
        "awaiting_case": awaiting,
        "not_ready": not_ready,
        "most_common_unmet": unmet,
        "most_common_unmet_people": missing,
    }


EXPECTED = [
    row(FORMULA, "L2", (2, 0, 1, 1), "average", 1),
    row("Platform", "L3", (6, 0, 3, 3), "average", 2),
]


async def test_the_pipeline_counts_by_department_and_position_and_the_csv_says_the_same(
    stack: Stack,
) -> None:
    found = await stack.call("GET", "/reports/readiness")
    assert (found["session_id"], found["criteria_version"]) == ("s1", 1)
    assert found["as_of"] == date.today().isoformat()
    assert found["rows"] == EXPECTED
    assert found["left_out"] == {MOVED: 1}, "the leaver is not in the population at all"
    assert found["case_only"] == ["calibration_confirmation", "endorsement", "evidence"]

    # The one not ready on time alone, through their own readiness.
    readiness = await stack.call("GET", "/people/emp-new/readiness")
    assert [r["kind"] for r in readiness["results"] if not r["met"]] == [
        "time_at_level",
        "endorsement",
        "calibration_confirmation",
    ]

    response = await stack.api.response("GET", "/reports/readiness?format=csv")
    assert response.headers["content-type"].startswith("text/csv")
    header, *lines = list(csv.reader(io.StringIO(response.text)))
    assert header == ["session_id", "criteria_version", *EXPECTED[0]]
    assert lines[0][2] == "'" + FORMULA, "an apostrophe makes it text"
    as_json = [["s1", "1", *("" if v is None else str(v) for v in r.values())] for r in EXPECTED]
    assert [[restore(cell) for cell in line] for line in lines] == as_json

    one = await stack.api.ok("GET", "/reports/readiness", params={"department": FORMULA})
    assert (one["department"], one["rows"]) == (FORMULA, EXPECTED[:1])
    assert one["left_out"] == {}


async def test_the_pipeline_is_for_hr_and_bad_input_is_a_typed_refusal(stack: Stack) -> None:
    for who in (AUDITOR, LEAD, "emp-p0"):
        await stack.call("GET", "/reports/readiness", 403, who=who)
    nowhere = await stack.call("GET", "/reports/readiness?department=Nowhere", 404)
    assert "Nowhere" in nowhere["detail"]
    await stack.call("GET", "/reports/readiness?format=xlsx", 422)
    await stack.call("GET", "/reports/readiness?department=", 422)


async def test_the_cli_asks_the_promotion_service_for_the_pipeline(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`talentledger report readiness` against the service on a real socket: the CSV as the
    service wrote it, in the file asked for, and a refusal said with exit code 1."""
    async with serving(stack.api.app) as url:
        expected = await stack.api.response(
            "GET", "/reports/readiness", params={"department": FORMULA, "format": "csv"}
        )
        cli_args = ["report", "readiness", "--department", FORMULA, "--url", url, "--as", "hr"]
        written = tmp_path / "readiness.csv"
        ran = await command_line(monkeypatch, stack.api.hr, *cli_args, "-o", written)
        assert ran.exit_code == 0, ran.output
        assert written.read_bytes() == expected.content
        # The promotion service's own address comes from its own variable.
        monkeypatch.setenv("TALENTLEDGER_PROMOTION_URL", url)
        as_json = await command_line(
            monkeypatch, stack.api.hr, "report", "readiness", "--format", "json", "--as", "hr"
        )
        assert as_json.exit_code == 0, as_json.output
        assert '"session_id":"s1"' in as_json.output
        refused = await command_line(
            monkeypatch, stack.who("emp-p0"), *cli_args[:2], "--url", url, "--as", "emp-p0"
        )
        assert refused.exit_code == 1
        assert "GET /reports/readiness" in refused.output
