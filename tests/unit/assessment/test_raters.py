"""Rater groups (docs/domain.md §3): self, manager and direct reports from the org chart; peers
nominated by the employee or manager and approved by the manager."""

from __future__ import annotations

import random
import re
from datetime import date

import pytest
from pydantic import ValidationError

from libs.replicas.people import Person
from services.assessment.domain.raters import (
    Nomination,
    NominationRefused,
    OrgChartView,
    PeerPolicy,
    assignments,
    decide,
    nominate,
)
from talentledger.samples.organisation import org_chart


def person(employee_id: str, manager: str | None, left: bool = False) -> Person:
    return Person(
        employee_id=employee_id,
        name=employee_id,
        department="Platform",
        job_family="product-engineering",
        track="ic",
        level="E3",
        manager_id=manager,
        hired_on=date(2020, 1, 1),
        left_on=date(2026, 1, 1) if left else None,
    )


ORG = OrgChartView.of(
    [
        person("head", None),
        person("mgr", "head"),
        person("ann", "mgr"),
        person("bob", "mgr"),
        person("cat", "mgr"),
        person("dan", "mgr"),
        person("gone", "mgr", left=True),
        person("eve", "ann"),
    ]
)
POLICY = PeerPolicy(minimum=2, maximum=3)


def groups(subject: str, nominations: list[Nomination] | None = None) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for a in assignments(subject, ORG, nominations or []):
        found.setdefault(a.group, []).append(a.rater)
    return found


def test_self_manager_and_current_direct_reports_come_from_the_org_chart() -> None:
    assert groups("mgr") == {
        "self": ["mgr"],
        "manager": ["head"],
        "direct_report": ["ann", "bob", "cat", "dan"],
    }
    assert groups("head") == {"self": ["head"], "direct_report": ["mgr"]}, "no manager: none"


def test_peers_rate_once_approved_by_the_manager() -> None:
    nomination = nominate("ann", "bob", "ann", ORG, [], POLICY)
    assert "peer" not in groups("ann", [nomination]), "pending peers do not rate yet"
    approved = decide(nomination, approve=True, by="mgr", org=ORG)
    assert groups("ann", [approved])["peer"] == ["bob"]
    rejected = decide(nominate("ann", "cat", "mgr", ORG, [], POLICY), False, "mgr", ORG)
    assert "peer" not in groups("ann", [rejected])


@pytest.mark.parametrize(
    ("subject", "peer", "by", "message"),
    [
        ("ann", "bob", "cat", "only 'ann' or their manager may nominate"),
        ("ann", "ann", "ann", "rates themself in the self group"),
        ("ann", "mgr", "ann", "already rates 'ann' as their manager or a direct report"),
        ("ann", "eve", "ann", "already rates 'ann' as their manager or a direct report"),
        ("ann", "gone", "ann", "'gone' is not in the org chart (or has left)"),
        ("ann", "nobody", "ann", "'nobody' is not in the org chart"),
    ],
)
def test_a_nomination_the_rules_refuse_says_why(
    subject: str, peer: str, by: str, message: str
) -> None:
    with pytest.raises(NominationRefused, match=re.escape(message)):
        nominate(subject, peer, by, ORG, [], POLICY)


def test_the_maximum_counts_pending_and_approved_nominations_not_rejected_ones() -> None:
    taken = [
        Nomination("mgr", "x1", "mgr", "approved"),
        Nomination("mgr", "x2", "mgr", "pending"),
        Nomination("mgr", "x3", "mgr", "rejected"),
    ]
    extra = [person(f"x{n}", "head") for n in range(1, 6)]
    org = OrgChartView.of([*ORG.people.values(), *extra])
    third = nominate("mgr", "x4", "mgr", org, taken, POLICY)
    with pytest.raises(NominationRefused, match="allows at most 3"):
        nominate("mgr", "x5", "mgr", org, [*taken, third], POLICY)
    with pytest.raises(NominationRefused, match="already nominated"):
        nominate("mgr", "x2", "mgr", org, taken, POLICY)


def test_only_the_manager_decides_and_only_once() -> None:
    nomination = nominate("ann", "bob", "ann", ORG, [], POLICY)
    with pytest.raises(NominationRefused, match=r"only the manager of 'ann' \('mgr'\)"):
        decide(nomination, approve=True, by="ann", org=ORG)
    approved = decide(nomination, approve=True, by="mgr", org=ORG)
    with pytest.raises(NominationRefused, match="already approved"):
        decide(approved, approve=False, by="mgr", org=ORG)


def test_a_peer_policy_cannot_need_more_than_it_allows() -> None:
    with pytest.raises(ValidationError, match="minimum peers 5 is above maximum 4"):
        PeerPolicy(minimum=5, maximum=4)


def test_raters_for_sampled_people_of_a_500_person_org_chart() -> None:
    """The issue's check: manager and reports right for sampled people of a realistic chart."""
    chart = org_chart(500)
    people = [
        Person(
            employee_id=e.employee_id,
            name=e.name,
            department=e.department,
            job_family=e.job_family,
            track=e.track,
            level=e.level,
            manager_id=e.manager_id or None,
            hired_on=date.fromisoformat(e.hired_on),
            left_on=None,
        )
        for e in chart
    ]
    org = OrgChartView.of(people)
    for employee in random.Random(11).sample(chart, 40):
        found = groups_in(org, employee.employee_id)
        assert found.get("manager", []) == ([employee.manager_id] if employee.manager_id else [])
        assert found.get("direct_report", []) == sorted(
            e.employee_id for e in chart if e.manager_id == employee.employee_id
        )


def groups_in(org: OrgChartView, subject: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for a in assignments(subject, org, []):
        found.setdefault(a.group, []).append(a.rater)
    return found
