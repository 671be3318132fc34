"""Revision items from calibration findings, resolved by later versions, and the health
report after a cycle (services/framework/domain/upkeep.py; docs/framework.md, Upkeep)."""

from __future__ import annotations

from typing import Any

import pytest

from libs.events.schemas.assessment import AnchorFindingsRecorded
from libs.events.schemas.framework import Framework, SubSkill
from services.framework.domain.upkeep import (
    AnchorRef,
    VersionIndex,
    anchor_texts,
    health,
    revision_items,
)
from tests.support.sample_frameworks import (
    anchors,
    assessed_per_sub_skill,
    replace_competency,
    reword_anchor,
    valid_framework,
    with_family_anchor,
    with_sub_skill,
)

V1 = valid_framework()
# Version 2 rewords coding's IC anchor at 3, the one the L3 role is measured against.
V2 = reword_anchor(V1, "coding", "ic", 3, "Ships a change of a few modules with its tests.")
VERSIONS = {1: V1, 2: V2}


def role(family: str, track: str, level: str) -> dict[str, str]:
    return {"family": family, "track": track, "level": level}


L3, L4, L9 = role("eng", "ic", "L3"), role("eng", "ic", "L4"), role("eng", "ic", "L9")


def findings(**fields: Any) -> AnchorFindingsRecorded:
    base: dict[str, Any] = {
        "session_id": "autumn-eng",
        "campaign_id": "autumn",
        "framework_id": "eng",
        "framework_version": 1,
        "anchors": [],
        "not_relevant": [],
        "use": [],
    }
    return AnchorFindingsRecorded.model_validate(base | fields)


FOUND = findings(
    anchors=[
        {"kind": "inconsistent_use", "competency": "coding", **L3, "items": 10, "flagged": 4},
        {"kind": "leniency_clustering", "competency": "testing", **L4, "items": 20, "flagged": 12},
        # No L9 in the framework: a finding on it makes no item.
        {"kind": "outliers", "competency": "coding", **L9, "items": 10, "flagged": 3},
    ],
    not_relevant=[
        {"competency": "testing", **L3, "marked": 2, "answered": 20},
        {"competency": "testing", **L4, "marked": 9, "answered": 18},
    ],
    use=[
        {"competency": "coding", **L3, "subjects": 10, "unscored": 1, "at_target": 9},
        {"competency": "testing", **L3, "subjects": 10, "unscored": 6, "at_target": 2},
        {"competency": "coding", **L4, "subjects": 8, "unscored": 0, "at_target": 3},
    ],
)


def test_a_finding_is_about_the_anchor_at_the_roles_target() -> None:
    """L3 targets coding at 3 and L4 testing at 3: their anchors are the IC ones at 3."""
    assert VersionIndex(V1).measured_against("eng", "ic", "L3", "coding") == AnchorRef(
        competency="coding", track="ic", proficiency=3, family=None
    )
    assert VersionIndex(V1).measured_against("eng", "ic", "L4", "coding") == AnchorRef(
        competency="coding", track="ic", proficiency=4, family=None
    )
    assert VersionIndex(V1).measured_against("eng", "ic", "L9", "coding") is None
    assert VersionIndex(V1).measured_against("eng", "ic", "L3", "juggling") is None


def test_a_familys_own_wording_is_the_anchor_its_roles_are_measured_against() -> None:
    worded = with_family_anchor(V1, "coding", "eng", "ic", 3, "Ships a module, tests first.")
    own = VersionIndex(worded).measured_against("eng", "ic", "L3", "coding")
    assert own == AnchorRef(competency="coding", track="ic", proficiency=3, family="eng")
    assert anchor_texts(worded)[own] == "Ships a module, tests first."


def test_an_item_is_resolved_by_the_first_version_that_rewords_its_anchor() -> None:
    coding, testing = revision_items([FOUND], VERSIONS)[::-1]
    assert (testing.anchor.competency, testing.kind) == ("testing", "leniency_clustering")
    assert testing.resolved_in_version is None, "version 2 left testing's wording alone"
    assert (coding.anchor.competency, coding.anchor.proficiency) == ("coding", 3)
    assert coding.resolved_in_version == 2
    assert coding.text == anchor_texts(V1)[coding.anchor]
    assert (coding.found_in_version, coding.items, coding.flagged) == (1, 10, 4)
    assert revision_items([FOUND], {1: V1})[0].resolved_in_version is None
    assert revision_items([FOUND.model_copy(update={"framework_version": 7})], VERSIONS) == []


def test_the_health_report_counts_revised_anchors_unused_and_not_relevant_competencies() -> None:
    items = revision_items([FOUND], VERSIONS)
    report = health("autumn", [FOUND], VERSIONS, items)
    assert (report.framework_version, report.latest_version) == (1, 2)
    assert report.anchors == len(anchor_texts(V1))
    assert report.anchors_revised == 1
    assert report.revised_share == pytest.approx(1 / report.anchors)
    assert report.revised_verdict == "below", "one anchor is far under the 10-20% guidance"
    # coding: 18 subjects, 1 unscored, 12 of 17 scored at target: useful. testing: 6 of 10
    # unscored: mostly not observed.
    assert [(u.competency, u.reason) for u in report.no_gap_data] == [
        ("testing", "mostly not observed")
    ]
    assert [(m.competency, m.level, m.marked, m.answered) for m in report.not_relevant] == [
        ("testing", "L4", 9, 18),
        ("testing", "L3", 2, 20),
    ]
    assert (report.open_items, report.resolved_items) == (1, 1)


def test_everyone_at_target_is_no_gap_data_either() -> None:
    met = FOUND.model_copy(
        update={
            "use": [
                u.model_copy(update={"at_target": u.subjects, "unscored": 0})
                if u.competency == "coding"
                else u
                for u in FOUND.use
            ]
        }
    )
    report = health("autumn", [met], VERSIONS, [])
    assert ("coding", "everyone at target") in [
        (u.competency, u.reason) for u in report.no_gap_data
    ]


def test_an_item_is_per_role_and_resolved_when_its_role_reads_other_words() -> None:
    """Two roles reading the same common anchor raise two items; giving the family its own
    wording at that level changes what its role reads, and resolves its item."""
    l3_again = findings(
        anchors=[
            {
                "kind": "inconsistent_use",
                "competency": "collaboration",
                **L3,
                "items": 6,
                "flagged": 3,
            },
            {
                "kind": "inconsistent_use",
                "competency": "collaboration",
                **L4,
                "items": 6,
                "flagged": 3,
            },
        ]
    )
    first, second = revision_items([l3_again], {1: V1})
    assert first.anchor == second.anchor, "L3 and L4 target collaboration at the same level"
    assert first.key != second.key
    collaboration_target = VersionIndex(V1).measured_against("eng", "ic", "L3", "collaboration")
    assert collaboration_target is not None
    own = with_family_anchor(
        V1, "collaboration", "eng", "ic", collaboration_target.proficiency, "Pairs daily."
    )
    resolved = revision_items([l3_again], {1: V1, 2: own})
    assert [i.resolved_in_version for i in resolved] == [2, 2]


# -- at sub-skill granularity -----------------------------------------------------------------

# Coding assessed per sub-skill: `reads` has IC anchors of its own at 1..5, `writes` none (it
# reads coding's). 9 competencies of 10 anchors each, and reads' 5: 95 anchors.
READS = SubSkill(key="reads", name="Reads code", anchors=anchors("Reads code", ["ic"]))
WRITES = SubSkill(key="writes", name="Writes code")
PER_SUB_SKILL = assessed_per_sub_skill(
    with_sub_skill(with_sub_skill(V1, "coding", READS), "coding", WRITES)
)
READS_AT_3 = "Reads code as an individual contributor shows it at step 3."
CODING_AT_3 = "Coding as an individual contributor shows it at step 3."


def reword_reads(framework: Framework, **texts: str) -> Framework:
    """reads' own IC anchors at the given proficiencies (`at_3="..."`) reworded."""
    coding = framework.competency("coding")
    assert coding is not None
    skills = [
        s.model_copy(
            update={
                "anchors": [
                    a.model_copy(update={"text": texts.get(f"at_{a.proficiency}", a.text)})
                    for a in s.anchors
                ]
            }
        )
        if s.key == "reads"
        else s
        for s in coding.sub_skills
    ]
    return replace_competency(framework, "coding", sub_skills=skills)


def test_a_sub_skill_is_measured_against_its_own_anchor_where_it_has_one() -> None:
    """docs/domain.md §2, Granularity: at sub-skill level a sub-skill is rated against its own
    anchors on the role's track, else the competency's; per competency, its own are unread."""
    index = VersionIndex(PER_SUB_SKILL)
    assert index.read_on("coding") == ["reads", "writes"]
    assert index.measured_against("eng", "ic", "L3", "coding", "reads") == AnchorRef(
        competency="coding", sub_skill="reads", track="ic", proficiency=3, family=None
    )
    assert index.measured_against("eng", "ic", "L3", "coding", "writes") == AnchorRef(
        competency="coding", track="ic", proficiency=3, family=None
    )
    own = AnchorRef(competency="coding", sub_skill="reads", track="ic", proficiency=3, family=None)
    assert anchor_texts(PER_SUB_SKILL)[own] == READS_AT_3
    per_competency = VersionIndex(PER_SUB_SKILL.model_copy(update={"granularity": "competency"}))
    assert per_competency.read_on("coding") == [None]
    assert per_competency.measured_against("eng", "ic", "L3", "coding", "reads") == AnchorRef(
        competency="coding", track="ic", proficiency=3, family=None
    )


def test_a_finding_on_a_competency_assessed_per_sub_skill_is_one_item_per_anchor_read() -> None:
    """L3's coding finding covers reads' own anchor at 3 and coding's, which writes reads: two
    items; rewording reads' own resolves its item and leaves coding's open."""
    found = findings(
        anchors=[
            {"kind": "inconsistent_use", "competency": "coding", **L3, "items": 8, "flagged": 2}
        ]
    )
    v2 = reword_reads(PER_SUB_SKILL, at_3="Reads a module and explains it.")

    items = revision_items([found], {1: PER_SUB_SKILL, 2: v2})

    assert [
        (i.anchor.sub_skill, i.anchor.proficiency, i.text, i.resolved_in_version) for i in items
    ] == [
        (None, 3, CODING_AT_3, None),
        ("reads", 3, READS_AT_3, 2),
    ]
    assert items[0].key != items[1].key


def test_the_health_report_counts_a_sub_skills_own_anchors() -> None:
    """Rewording two of reads' own anchors revises 2 of the version's 95 anchors."""
    v2 = reword_reads(PER_SUB_SKILL, at_3="Reads a module.", at_4="Reads a system.")
    found = findings(anchors=[])

    report = health("autumn", [found], {1: PER_SUB_SKILL, 2: v2}, [])

    assert (report.anchors, report.anchors_revised) == (95, 2)
    assert report.revised_share == pytest.approx(2 / 95)
