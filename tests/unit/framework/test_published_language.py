"""What other contexts see of the framework: the events and their versions (docs/domain.md §2)."""

from __future__ import annotations

from datetime import UTC, datetime

from libs.events.registry import registry
from libs.events.schemas.framework import FrameworkPublished, SubSkill
from services.framework.domain import events as draft_events
from tests.support.sample_frameworks import replace_competency, valid_framework


def test_a_version_1_framework_published_event_reads_as_the_current_schema() -> None:
    """Stored events are never rewritten: v1 (levels and competencies only) is upcast."""
    v1 = {
        "framework_id": "eng",
        "version": 1,
        "name": "Engineering",
        "revision": "initial",
        "scale_min": 1,
        "scale_max": 5,
        "levels": [
            {"code": "M1", "name": "Manager", "track": "manager", "rank": 1},
            {"code": "L2", "name": "Senior", "track": "ic", "rank": 2},
            {"code": "L1", "name": "Engineer", "track": "ic", "rank": 1},
        ],
        "competencies": [
            {"key": "collab", "name": "Collaboration", "kind": "core", "nature": "behavioural"}
        ],
        "published_at": "2026-01-01T00:00:00Z",
    }
    event = registry.decode("FrameworkPublished", 1, v1)
    assert isinstance(event, FrameworkPublished)
    framework = event.framework
    assert (framework.name, framework.scale) == ("Engineering", "1..5")
    [family] = framework.families
    assert [(t.kind, [lv.code for lv in t.levels]) for t in family.tracks] == [
        ("ic", ["L1", "L2"]),
        ("manager", ["M1"]),
    ]
    assert [c.key for c in framework.competencies] == ["collab"]


def test_draft_edits_are_private_and_publications_are_not() -> None:
    """Drafts are visible to hr_admin only: their events never leave the service."""
    private = {m.event_type for m in registry.models() if m.private}
    assert {e.event_type for e in draft_events.DEFINED.values()} <= private
    assert {e.event_type for e in draft_events.REMOVED.values()} <= private
    assert {"FrameworkDraftStarted", "FrameworkDraftReplaced", "CompetencyPushed"} <= private
    assert not registry.is_private("FrameworkPublished")
    assert not registry.is_private("RoleProfileChanged")
    assert not registry.is_private("SomethingNoServiceKnows"), "dead-lettered, not withheld"


def test_a_version_5_framework_published_event_reads_its_sub_skills_without_anchors() -> None:
    """v6 added a sub-skill's own anchors: a v5 payload reads as it is, its sub-skills rated
    against their competency's anchors."""
    framework = replace_competency(
        valid_framework(), "design", sub_skills=[SubSkill(key="apis", name="Designs APIs")]
    )
    payload = FrameworkPublished(
        framework_id="eng",
        version=1,
        revision="initial",
        published_at=datetime(2026, 1, 1, tzinfo=UTC),
        framework=framework,
    ).model_dump(mode="json")
    for competency in payload["framework"]["competencies"]:
        for skill in competency["sub_skills"]:
            del skill["anchors"]
    event = registry.decode("FrameworkPublished", 5, payload)
    assert isinstance(event, FrameworkPublished)
    assert event.framework == framework
    assert FrameworkPublished.schema_version == 6
