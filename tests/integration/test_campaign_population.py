"""A 360 campaign over a population loaded from an HRIS CSV of 500 people (docs/domain.md §3).

The org chart is the realistic generated one (tests/support/org_chart.py), read with
`read_people` as `talentledger hris load people.csv` reads it, and applied through the
assessment service's org chart handler. Raters are then checked through the HTTP API against
what the CSV rows say, computed here independently of the service:

- docs/domain.md §3, Rater groups: "self, manager, peers, direct reports. Direct reports and
  manager come from the org chart (HRIS). Peers are nominated (by the employee or manager)
  and approved by the manager."
- docs/domain.md §3: "A cycle runs for a population (a department, a job family, a pilot group,
  or everyone)", and "non-responders are known".
"""

from __future__ import annotations

import csv
import io
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from services.framework.adapters.files import native
from services.framework.domain.profiles import effective_profiles
from talentledger.hris_load import read_people
from talentledger.samples.organisation import as_csv, org_chart
from tests.support.assessment_api import AssessmentApi, assessment_api

PEOPLE = 500
SEED = 20250301
SAMPLES = Path(__file__).resolve().parents[2] / "talentledger" / "samples"
FRAMEWORK = SAMPLES / "engineering-framework.yaml"
EVERYONE = "all-360"


@dataclass
class Chart:
    """The CSV rows, and who rates whom according to them (not according to the service)."""

    rows: dict[str, dict[str, str]]
    manager: dict[str, str | None] = field(default_factory=dict)
    reports: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, text: str) -> Chart:
        rows = {row["employee_id"]: row for row in csv.DictReader(io.StringIO(text))}
        chart = cls(rows)
        for employee_id, row in rows.items():
            chart.manager[employee_id] = row["manager_id"] or None
            if row["manager_id"]:
                chart.reports.setdefault(row["manager_id"], []).append(employee_id)
        return chart

    def raters(self, subject: str, peers: dict[str, set[str]]) -> set[tuple[str, str]]:
        """(rater, group) for one subject: self, manager column, rows naming them as
        manager, and the peers their manager approved."""
        found = {(subject, "self")}
        if (manager := self.manager[subject]) is not None:
            found.add((manager, "manager"))
        found |= {(report, "direct_report") for report in self.reports.get(subject, [])}
        found |= {(peer, "peer") for peer in peers.get(subject, set())}
        return found

    def rates(
        self, rater: str, peers: dict[str, set[str]], population: set[str]
    ) -> set[tuple[str, str]]:
        """(subject, group) for one rater: the inverse of `raters`, within the population."""
        found = {(rater, "self")}
        if (manager := self.manager[rater]) is not None:
            found.add((manager, "direct_report"))
        found |= {(report, "manager") for report in self.reports.get(rater, [])}
        found |= {(subject, "peer") for subject, chosen in peers.items() if rater in chosen}
        return {(subject, group) for subject, group in found if subject in population}

    def is_manager_of_managers(self, employee_id: str) -> bool:
        return any(r in self.reports for r in self.reports.get(employee_id, []))


@dataclass
class Population:
    api: AssessmentApi
    chart: Chart
    roles: dict[tuple[str, str, str], str]

    def as_(self, employee_id: str, role: str = "employee") -> dict[str, str]:
        return self.api.as_(employee_id, role)

    async def ok(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        """As HR unless headers are given."""
        return await self.api.ok(method, path, status, **kwargs)

    async def mine(self, campaign: str, rater: str) -> set[tuple[str, str]]:
        path = f"/campaigns/{campaign}/assignments/mine"
        found = await self.api.items(path, headers=self.as_(rater))
        assert all(not a["submitted"] and not a["final"] for a in found), found
        pairs = [(a["subject"], a["group"]) for a in found]
        assert len(pairs) == len(set(pairs)), f"{rater} has an assignment twice: {pairs}"
        return set(pairs)

    async def waiting_for(self, campaign: str) -> dict[str, set[tuple[str, str]]]:
        """Non-responders by subject: (rater, group)."""
        found: dict[str, set[tuple[str, str]]] = {}
        for a in await self.api.items(f"/campaigns/{campaign}/non-responders"):
            found.setdefault(a["subject"], set()).add((a["rater"], a["group"]))
        return found

    def role_of(self, employee_id: str) -> str:
        """The role profile of the employee's position: every generated one has one."""
        row = self.chart.rows[employee_id]
        return self.roles[(row["job_family"], row["track"], row["level"])]


def campaign(campaign_id: str, **population: Any) -> dict[str, Any]:
    return {
        "id": campaign_id,
        "framework_id": "product-engineering",
        "framework_version": 1,
        "closes_at": (datetime.now(UTC) + timedelta(days=21)).isoformat(),
        **population,
    }


@pytest.fixture
async def population(database_url: str, tmp_path: Path) -> AsyncIterator[Population]:
    """The CSV loaded as `hris load` reads it, hired into the org chart; the sample framework
    published as version 1."""
    people_csv = tmp_path / "people.csv"
    people_csv.write_text(as_csv(org_chart(PEOPLE, seed=SEED)), encoding="utf-8")
    text = people_csv.read_text(encoding="utf-8")
    loaded = read_people(text)
    assert loaded.bad_rows == [], [str(b) for b in loaded.bad_rows]
    assert loaded.warnings == [], [str(w) for w in loaded.warnings]
    assert len(loaded.hires) == PEOPLE

    read = native.load(FRAMEWORK.read_text(encoding="utf-8"), FRAMEWORK.name)
    assert read.framework is not None, [str(i) for i in read.issues]
    assert read.framework_id == "product-engineering"
    roles = {
        (p.family, p.track, p.level): p.key for p in effective_profiles(read.framework).values()
    }
    async with assessment_api(database_url, tmp_path / "keys") as api:
        await api.hire(*loaded.hires)
        await api.publish(read.framework_id, 1, read.framework)
        yield Population(api, Chart.of(text), roles)


def sample_subjects(chart: Chart, rng: random.Random) -> list[str]:
    """25 people: the head, managers of managers, managers of teams and individual
    contributors (leaves), from every department."""
    head = [e for e, m in chart.manager.items() if m is None]
    upper = sorted(e for e in chart.reports if chart.is_manager_of_managers(e) and e not in head)
    team_leads = sorted(e for e in chart.reports if not chart.is_manager_of_managers(e))
    leaves = sorted(e for e in chart.rows if e not in chart.reports)
    assert len(head) == 1, "one head"
    assert len(upper) >= 5, "managers of managers below the head"
    assert len(team_leads) >= 7, "managers of teams"
    chosen = head + rng.sample(upper, 5) + rng.sample(team_leads, 7) + rng.sample(leaves, 12)
    departments = {chart.rows[e]["department"] for e in chosen}
    assert departments == {"Platform", "Product", "Insights"}, departments
    return chosen


async def test_the_csv_loads_and_each_campaign_assesses_the_population_it_names(
    population: Population,
) -> None:
    """docs/domain.md §3: a cycle runs for everyone, a department or a job family; its population
    is exactly the CSV rows that match."""
    rows = population.chart.rows
    everyone = await population.ok("POST", "/campaigns", 201, json=campaign(EVERYONE))
    assert sorted(everyone["population"]) == sorted(rows)
    assert (everyone["framework_id"], everyone["framework_version"]) == (
        "product-engineering",
        1,
    )

    insights = await population.ok(
        "POST", "/campaigns", 201, json=campaign("pilot", department="Insights")
    )
    expected = sorted(e for e, row in rows.items() if row["department"] == "Insights")
    assert sorted(insights["population"]) == expected
    assert 100 < len(expected) < 200, "a third of the company"

    engineering = await population.ok(
        "POST", "/campaigns", 201, json=campaign("eng", job_family="product-engineering")
    )
    expected = sorted(e for e, row in rows.items() if row["job_family"] == "product-engineering")
    assert sorted(engineering["population"]) == expected
    assert {rows[e]["department"] for e in expected} == {"Platform", "Product", "Insights"}, (
        "a job family spans departments: analytics teams' managers are on its manager track"
    )

    both = campaign("product-eng", department="Product", job_family="product-engineering")
    product = await population.ok("POST", "/campaigns", 201, json=both)
    assert sorted(product["population"]) == sorted(
        e for e, row in rows.items() if row["department"] == "Product"
    )
    nobody = campaign("nobody", department="Platform", job_family="data-analytics")
    refused = await population.ok("POST", "/campaigns", 422, json=nobody)
    assert "nobody active" in refused["detail"]
    assert "'Platform'" in refused["detail"]


async def test_sampled_subjects_are_rated_by_themself_their_manager_and_their_reports(
    population: Population,
) -> None:
    """docs/domain.md §3, Rater groups: manager and direct reports come from the org chart (HRIS):
    for 25 sampled people every rater the CSV implies, and no one else, is asked; each of
    them sees the subject in the right group; non-responders are exactly those raters; an
    outsider may not open the subject's questionnaire."""
    chart = population.chart
    await population.ok("POST", "/campaigns", 201, json=campaign(EVERYONE))
    everyone = set(chart.rows)
    rng = random.Random(SEED)
    subjects = sample_subjects(chart, rng)
    waiting = await population.waiting_for(EVERYONE)
    assert set(waiting) == everyone, "every subject of the campaign awaits someone"

    checked_raters: set[str] = set()
    for subject in subjects:
        raters = chart.raters(subject, {})
        assert waiting[subject] == raters, f"non-responders of {subject}"
        role = population.role_of(subject)
        for rater, group in sorted(raters):
            if rater not in checked_raters:
                mine = await population.mine(EVERYONE, rater)
                assert mine == chart.rates(rater, {}, everyone), f"assignments of {rater}"
                checked_raters.add(rater)
            path = f"/campaigns/{EVERYONE}/questionnaires/{subject}"
            asked = await population.ok("GET", path, headers=population.as_(rater))
            assert asked["role"] == role, (subject, rater, group)

        outsider = rng.choice(sorted(everyone - {r for r, _ in raters}))
        path = f"/campaigns/{EVERYONE}/questionnaires/{subject}"
        denied = await population.ok("GET", path, 403, headers=population.as_(outsider))
        assert f"{outsider!r} is not an assigned rater of {subject!r}" in denied["detail"]
        answers = {"answers": [{"item": "anything", "value": 3}]}
        path = f"/campaigns/{EVERYONE}/submissions/{subject}"
        await population.ok("PUT", path, 422, json=answers, headers=population.as_(outsider))
    assert len(checked_raters) > 60, "the sample reaches many raters"

    # A department campaign: the Insights lead is assessed, rated by the head outside it.
    await population.ok("POST", "/campaigns", 201, json=campaign("pilot", department="Insights"))
    insiders = {e for e, row in chart.rows.items() if row["department"] == "Insights"}
    [head] = [e for e, m in chart.manager.items() if m is None]
    [lead] = [e for e in chart.reports[head] if e in insiders]
    assert await population.mine("pilot", head) == {(lead, "manager")}
    assert await population.mine("pilot", lead) == chart.rates(lead, {}, insiders)
    pilot_waiting = await population.waiting_for("pilot")
    assert set(pilot_waiting) == insiders
    assert pilot_waiting[lead] == chart.raters(lead, {})
    outside = next(e for e in sorted(everyone - insiders) if e != head)
    path = f"/campaigns/pilot/questionnaires/{outside}"
    await population.ok("GET", path, 404, headers=population.as_(head))


async def test_peers_rate_a_subject_once_their_manager_approves_them(
    population: Population,
) -> None:
    """docs/domain.md §3, Rater groups: peers are nominated by the employee or the manager and
    approved by the manager. Approved peers rate the subject as `peer`; rejected and pending
    ones do not; only the manager decides; the manager and reports already rate the subject
    and cannot be nominated as peers."""
    chart = population.chart
    await population.ok("POST", "/campaigns", 201, json=campaign(EVERYONE))
    everyone = set(chart.rows)
    rng = random.Random(SEED + 1)
    chosen = sample_subjects(chart, rng)
    subjects = chosen[1:4] + chosen[6:9] + chosen[13:17]  # under the head: 3, 3 and 4 leaves
    assert any(chart.is_manager_of_managers(s) for s in subjects)
    assert any(s not in chart.reports for s in subjects)

    approved: dict[str, set[str]] = {}
    undecided: dict[str, tuple[str, str]] = {}  # subject: (rejected, pending)
    nominations = f"/campaigns/{EVERYONE}/nominations"
    for subject in subjects:
        manager = chart.manager[subject]
        assert manager is not None
        department = chart.rows[subject]["department"]
        excluded = {subject, manager, *chart.reports.get(subject, [])}
        siblings = [e for e in chart.reports[manager] if e not in excluded]
        colleagues = [
            e
            for e, row in chart.rows.items()
            if row["department"] == department and e not in excluded and e not in siblings
        ]
        picked = rng.sample(siblings, min(2, len(siblings)))
        picked += rng.sample(colleagues, 4 - len(picked))
        by = [subject, manager, subject, manager]
        for peer, nominator in zip(picked, by, strict=True):
            made = await population.ok(
                "POST",
                nominations,
                201,
                json={"subject": subject, "peer": peer},
                headers=population.as_(nominator),
            )
            assert made == {
                "subject": subject,
                "peer": peer,
                "nominated_by": nominator,
                "state": "pending",
                "decided_by": None,
            }

        # Refusals, each naming the problem.
        body = {"subject": subject, "peer": manager}
        refused = await population.ok(
            "POST", nominations, 409, json=body, headers=population.as_(subject)
        )
        assert f"{manager!r} already rates {subject!r} as their manager" in refused["detail"]
        if reports := chart.reports.get(subject):
            body = {"subject": subject, "peer": reports[0]}
            refused = await population.ok(
                "POST", nominations, 409, json=body, headers=population.as_(manager)
            )
            assert f"{reports[0]!r} already rates {subject!r}" in refused["detail"]
            assert "direct report" in refused["detail"]
        body = {"subject": subject, "peer": subject}
        refused = await population.ok(
            "POST", nominations, 409, json=body, headers=population.as_(subject)
        )
        assert "self group" in refused["detail"]
        # A repeat is accepted and changes nothing: refusing it would tell the subject whom
        # their manager had nominated.
        body = {"subject": subject, "peer": picked[0]}
        await population.ok("POST", nominations, 201, json=body, headers=population.as_(manager))
        stranger = picked[1]
        body = {"subject": subject, "peer": picked[2]}
        denied = await population.ok(
            "POST", nominations, 403, json=body, headers=population.as_(stranger)
        )
        assert f"{stranger!r} is neither" in denied["detail"]

        # Only the manager decides: not the subject, a peer, the manager's manager or HR.
        decision = f"{nominations}/{subject}/{picked[0]}"
        deciders = [subject, picked[1]]
        if (skip_level := chart.manager[manager]) is not None:
            deciders.append(skip_level)
        for someone in deciders:
            denied = await population.ok(
                "POST", decision, 403, json={"approve": True}, headers=population.as_(someone)
            )
            assert f"only the manager of {subject!r} ({manager!r})" in denied["detail"]
        await population.ok("POST", decision, 403, json={"approve": True})

        for peer, approve in zip(picked[:3], [True, True, False], strict=True):
            decided = await population.ok(
                "POST",
                f"{nominations}/{subject}/{peer}",
                json={"approve": approve},
                headers=population.as_(manager),
            )
            assert decided["state"] == ("approved" if approve else "rejected")
            assert decided["decided_by"] == manager
        again = await population.ok(
            "POST",
            f"{nominations}/{subject}/{picked[0]}",
            409,
            json={"approve": False},
            headers=population.as_(manager),
        )
        assert picked[0] in again["detail"]
        approved[subject] = set(picked[:2])
        undecided[subject] = (picked[2], picked[3])

        # The manager sees every nomination; the subject only those they made.
        seen = await population.api.items(
            f"{nominations}/{subject}", headers=population.as_(manager)
        )
        assert {(n["peer"], n["nominated_by"], n["state"]) for n in seen} == {
            (picked[0], subject, "approved"),
            (picked[1], manager, "approved"),
            (picked[2], subject, "rejected"),
            (picked[3], manager, "pending"),
        }
        own = await population.api.items(
            f"{nominations}/{subject}", headers=population.as_(subject)
        )
        assert {n["peer"] for n in own} == {picked[0], picked[2]}
        await population.ok(
            "GET", f"{nominations}/{subject}", 403, headers=population.as_(picked[3])
        )

    # Approved peers are raters, in the peer group; rejected and pending ones are not.
    waiting = await population.waiting_for(EVERYONE)
    for subject in subjects:
        raters = chart.raters(subject, approved)
        assert {r for r, g in raters if g == "peer"} == approved[subject]
        assert waiting[subject] == raters, f"non-responders of {subject}"
        rejected, pending = undecided[subject]
        path = f"/campaigns/{EVERYONE}/questionnaires/{subject}"
        for peer in sorted(approved[subject]):
            mine = await population.mine(EVERYONE, peer)
            assert (subject, "peer") in mine
            assert mine == chart.rates(peer, approved, everyone), f"assignments of {peer}"
            await population.ok("GET", path, headers=population.as_(peer))
        for peer in (rejected, pending):
            mine = await population.mine(EVERYONE, peer)
            assert (subject, "peer") not in mine
            assert mine == chart.rates(peer, approved, everyone), f"assignments of {peer}"
            await population.ok("GET", path, 403, headers=population.as_(peer))
        manager = chart.manager[subject]
        assert manager is not None
        assert await population.mine(EVERYONE, manager) == chart.rates(manager, approved, everyone)
