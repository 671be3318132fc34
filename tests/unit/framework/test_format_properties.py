"""Properties of the framework file formats over random frameworks (docs/domain.md §2, Import
and export: "without loss").

Random but model-valid frameworks (tests/support/framework_strategies.py): unicode text, empty
lists, dangling references. YAML and JSON give back the same framework; the CSV grid is stable
and keeps the granularity and sub-skills; validating a framework never crashes, whatever it
holds.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from libs.events.schemas.framework import Framework, SubSkill
from services.framework.adapters.files import grid_csv, native
from services.framework.domain.rules import validate
from tests.support.framework_strategies import frameworks

# a few seconds per property; no deadline, as machines busy with other tests are slow at times
FAST = settings(max_examples=80, deadline=None)


@pytest.mark.parametrize("fmt", ["yaml", "json"])
@FAST
@given(framework=frameworks(unique_keys=False))
def test_export_then_import_gives_an_identical_framework(fmt, framework: Framework):
    result = native.load(native.dump(framework, "fw", fmt), f"fw.{fmt}")
    assert result.issues == []
    assert result.framework == framework


@FAST
@given(framework=frameworks())
def test_a_grid_reads_back_to_the_same_grid(framework: Framework):
    text = grid_csv.dump(framework)
    result = grid_csv.load(text, "fw.csv")
    assert result.issues == []
    assert result.framework is not None
    assert grid_csv.dump(result.framework) == text


@FAST
@given(framework=frameworks())
def test_what_a_grid_holds_reads_back_unchanged(framework: Framework):
    # what a grid read back holds is, by construction, only what a grid can express
    held = grid_csv.load(grid_csv.dump(framework), "fw.csv", name=framework.name).framework
    assert held is not None
    assert grid_csv.load(grid_csv.dump(held), "fw.csv", name=held.name).framework == held


@FAST
@given(framework=frameworks())
def test_a_grid_keeps_every_sub_skill_with_the_anchors_a_role_reads(framework: Framework):
    """Sub-skill rows hold a sub-skill's anchors whatever their targets; of two on one track,
    proficiency and family, the one a role reads (the last)."""
    held = grid_csv.load(grid_csv.dump(framework), "fw.csv", name=framework.name).framework
    assert held is not None

    def read(skill: SubSkill) -> SubSkill:
        placed = {(a.track, a.proficiency, a.family): a for a in skill.anchors}
        return skill.model_copy(update={"anchors": list(placed.values())})

    assert {c.key: c.sub_skills for c in held.competencies} == {
        c.key: [read(skill) for skill in c.sub_skills] for c in framework.competencies
    }


@FAST
@given(framework=frameworks())
def test_a_grid_keeps_the_granularity(framework: Framework):
    """A framework comes back from its grid assessed as it was (per competency or per
    sub-skill), on its own scale."""
    held = grid_csv.load(grid_csv.dump(framework), "fw.csv", name=framework.name).framework
    assert held is not None
    assert held.granularity == framework.granularity
    assert held.scale == framework.scale


@FAST
@given(framework=frameworks(unique_keys=False))
def test_validation_never_crashes(framework: Framework):
    assert isinstance(validate(framework), list)
