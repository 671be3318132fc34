"""The project's own sample framework (talentledger/samples/engineering-framework.yaml): it is
in the service's native file format and passes every publication rule of docs/domain.md §2."""

from __future__ import annotations

from importlib import resources
from itertools import pairwise
from typing import Any

import yaml

from libs.events.schemas.framework import Competency, Framework
from services.framework.domain.profiles import effective_profiles
from services.framework.domain.rules import validate


def document() -> dict[str, Any]:
    text = resources.files("talentledger.samples").joinpath("engineering-framework.yaml")
    loaded = yaml.safe_load(text.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def sample() -> Framework:
    content = {k: v for k, v in document().items() if k not in {"format", "id"}}
    return Framework.model_validate(content)


def competency_of(framework: Framework, key: str) -> Competency:
    found = framework.competency(key)
    assert found is not None, key
    return found


def test_the_sample_is_a_native_framework_file() -> None:
    """docs/domain.md §2, Import and export: the sample is a plain file the service reads as is."""
    head = document()

    assert (head["format"], head["id"]) == ("talentledger.framework/1", "product-engineering")
    assert sample().name == "Product Engineering"


def test_the_sample_publishes_with_no_error_and_no_warning() -> None:
    """docs/domain.md §2: every rule (caps, floor, anchors, tracks, crossover, references, scale)
    holds, the advisory ones included."""
    assert validate(sample()) == []


def test_the_sample_shows_each_part_of_the_model() -> None:
    """docs/domain.md §2: two families (one IC-only), a crossover and a director tier, core rules
    for the behavioural core, a leadership level rule for managers, 5..8 functional
    competencies per family, a lateral path, vocabulary mappings, competency granularity."""
    framework = sample()
    engineering = framework.family("product-engineering")
    data = framework.family("data-analytics")
    assert engineering is not None
    assert data is not None
    manager = engineering.track("manager")
    assert manager is not None

    assert [t.kind for t in data.tracks] == ["ic"]
    assert manager.crossover is not None
    assert manager.crossover.from_level == "E3"
    assert manager.levels[-1].tier == "director"
    core = [c.key for c in framework.competencies if c.kind == "core"]
    assert len(core) == 3
    assert all(competency_of(framework, k).nature == "behavioural" for k in core)
    assert sorted(r.competency for r in framework.rules if r.scope == "core") == sorted(core)
    [leadership] = [r for r in framework.rules if r.scope == "level"]
    assert leadership.track == "manager"
    assert competency_of(framework, leadership.competency).kind == "leadership"
    for family in ("product-engineering", "data-analytics"):
        functional = [c for c in framework.competencies if c.family == family]
        assert 5 <= len(functional) <= 8, family
    assert framework.lateral_paths
    assert sum(1 for c in framework.competencies if c.standard_term) >= 3
    assert any(c.sub_skills for c in framework.competencies)
    assert (framework.scale, framework.granularity) == ("0..5", "competency")


def test_every_level_has_a_role_whose_targets_rise_with_the_level() -> None:
    """docs/domain.md §2, The grid: one role per level, and along a track no competency's
    expectation falls as the level rises."""
    framework = sample()
    profiles = effective_profiles(framework)
    for family in framework.families:
        for track in family.tracks:
            by_level = {
                p.level: {q.competency: q.target or 0 for q in p.requirements}
                for p in profiles.values()
                if (p.family, p.track) == (family.key, track.kind)
            }
            assert list(by_level) == [lv.code for lv in track.levels], (family.key, track.kind)
            for lower, higher in pairwise(by_level.values()):
                for competency, target in lower.items():
                    assert higher.get(competency, target) >= target, (family.key, competency)
