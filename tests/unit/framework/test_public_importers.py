"""Importing public career frameworks into the `Framework` model (docs/domain.md §2).

Section 2 asks that organisations arriving with documents can import them: job families with
tracks and levels, competencies with their nature, role profiles with the behaviours expected
at each level. These tests read Monzo's progression framework and Engineering Ladders in place
from ../shared/fixtures/frameworks (public data, licences beside it) and never copy their text:
they assert counts, keys, line numbers and fields. Made-up snippets cover the rules the
fixtures do not reach.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Literal, NamedTuple

import pytest

from libs.events.schemas.framework import Framework
from services.framework.adapters.files import engineering_ladders, formats, monzo
from services.framework.adapters.files.report import ImportResult

FIXTURES = Path(__file__).resolve().parents[4] / "shared" / "fixtures" / "frameworks"
pytestmark = pytest.mark.skipif(
    not FIXTURES.is_dir(), reason="../shared/fixtures is not present in this checkout"
)

IMPORTERS: dict[str, Callable[[str, str], ImportResult]] = {
    "monzo": monzo.load,
    "engineeringladders": engineering_ladders.load,
}
FORMATS = {"monzo": "monzo", "engineeringladders": "engineering-ladders"}
ALL_FILES = (
    sorted(
        p.relative_to(FIXTURES).as_posix()
        for directory in IMPORTERS
        for p in (FIXTURES / directory).rglob("*")
        if p.is_file()
    )
    if FIXTURES.is_dir()
    else []
)


class Counts(NamedTuple):
    framework_id: str
    families: int
    tracks: int
    levels: int
    competencies: int
    roles: int
    behaviours: int  # sum of len(requirement.behaviours) over all role profiles
    anchors: int  # sum of len(competency.anchors)


# Monzo (module docstring of monzo.py): one family and one track; a level per level number the
# criteria use; a competency per topic (yaml: false files: per "### Heading"); a role per level;
# a behaviour per criteria item plus one per exampleCriteria item (yaml: false files: per
# paragraph); no anchors.
# Engineering Ladders (engineering_ladders.py): a ladder page has one family and track, a level
# and a role per position, the five axes, one behaviour per axis bullet, and one anchor per
# distinct (axis, stage) among its bullets. README: one family and track per ladder column,
# levels from the ladder table, the five axes with five stage anchors each, no roles.
# Managing-Managers: five balance areas as competencies, nothing else. The comparison page:
# empty.
EXPECTED: dict[str, Counts] = {
    "monzo/frameworks/customer-operations.md": Counts("customer-operations", 1, 1, 2, 4, 2, 23, 0),
    "monzo/frameworks/design/product-design.md": Counts(
        "design-product-design", 1, 1, 6, 3, 6, 18, 0
    ),
    "monzo/frameworks/design/user-research.md": Counts(
        "design-user-research", 1, 1, 6, 3, 6, 18, 0
    ),
    "monzo/frameworks/design/visual-design.md": Counts(
        "design-visual-design", 1, 1, 6, 3, 6, 18, 0
    ),
    "monzo/frameworks/engineering/backend.md": Counts("engineering-backend", 1, 1, 6, 5, 6, 135, 0),
    "monzo/frameworks/engineering/data.md": Counts("engineering-data", 1, 1, 6, 7, 6, 141, 0),
    "monzo/frameworks/engineering/mobile.md": Counts("engineering-mobile", 1, 1, 6, 5, 6, 127, 0),
    # path is "/engineering/quality": the identity is the path, not the file name.
    "monzo/frameworks/engineering/qualityanalyst.md": Counts(
        "engineering-quality", 1, 1, 3, 5, 3, 55, 0
    ),
    "monzo/frameworks/engineering/web.md": Counts("engineering-web", 1, 1, 6, 5, 6, 165, 0),
    "monzo/frameworks/executive-support.md": Counts("executive-support", 1, 1, 5, 4, 5, 30, 0),
    "monzo/frameworks/generic.md": Counts("generic", 1, 1, 6, 5, 6, 72, 0),
    "monzo/frameworks/marketing.md": Counts("marketing", 1, 1, 7, 3, 7, 61, 0),
    "monzo/frameworks/operations/ops-individual-contributor.md": Counts(
        "operations-ops-individual-contributor", 1, 1, 5, 4, 5, 70, 0
    ),
    # Declares 5 levels; the criteria use levels 2..6: five levels, L2..L6.
    "monzo/frameworks/operations/ops-leadership.md": Counts(
        "operations-ops-leadership", 1, 1, 5, 5, 5, 152, 0
    ),
    "monzo/frameworks/people.md": Counts("frameworks-people", 1, 1, 7, 5, 7, 146, 0),
    "monzo/frameworks/product.md": Counts("product", 1, 1, 4, 7, 4, 70, 0),
    "monzo/frameworks/techops.md": Counts("techops", 1, 1, 5, 6, 5, 139, 0),
    "engineeringladders/Developer.md": Counts("developer", 1, 1, 7, 5, 7, 35, 22),
    "engineeringladders/TechLead.md": Counts("techlead", 1, 1, 4, 5, 4, 20, 13),
    "engineeringladders/TechnicalProgramManager.md": Counts(
        "technicalprogrammanager", 1, 1, 4, 5, 4, 20, 11
    ),
    "engineeringladders/EngineeringManager.md": Counts("engineeringmanager", 1, 1, 3, 5, 3, 15, 8),
    "engineeringladders/Managing-Managers.md": Counts("managing-managers", 0, 0, 0, 5, 0, 0, 0),
    "engineeringladders/TechLead-EngineeringManager.md": Counts(
        "techlead-engineeringmanager", 0, 0, 0, 0, 0, 0, 0
    ),
    # Levels: D1..D7 + TL4..TL7 + TPM4..TPM7 + EM5..EM7.
    "engineeringladders/README.md": Counts("readme", 4, 4, 18, 5, 0, 0, 25),
}
NOT_FRAMEWORKS = {
    "monzo/LICENSE",
    "monzo/PROVENANCE.txt",
    "monzo/README.upstream.md",
    "engineeringladders/LICENSE",
    "engineeringladders/PROVENANCE.txt",
}


@cache
def imported(name: str) -> ImportResult:
    return IMPORTERS[name.split("/")[0]]((FIXTURES / name).read_text(encoding="utf-8"), name)


def framework_of(name: str) -> Framework:
    framework = imported(name).framework
    assert framework is not None, imported(name).issues
    return framework


def counts(result: ImportResult) -> Counts:
    f = result.framework
    assert f is not None
    return Counts(
        framework_id=result.framework_id,
        families=len(f.families),
        tracks=sum(len(family.tracks) for family in f.families),
        levels=sum(len(t.levels) for family in f.families for t in family.tracks),
        competencies=len(f.competencies),
        roles=len(f.roles),
        behaviours=sum(len(q.behaviours) for role in f.roles for q in role.requirements),
        anchors=sum(len(c.anchors) for c in f.competencies),
    )


def issues_at(name: str, line: int) -> list[str]:
    return [f"{i.severity}|{i.field}|{i.message}" for i in imported(name).issues if i.line == line]


def test_every_fixture_file_is_classified() -> None:
    assert set(ALL_FILES) == set(EXPECTED) | NOT_FRAMEWORKS


@pytest.mark.parametrize("name", ALL_FILES)
def test_importing_never_raises_and_every_issue_points_into_the_file(name: str) -> None:
    result = imported(name)

    assert result.format == FORMATS[name.split("/")[0]]
    assert result.source == name
    for issue in result.issues:
        assert issue.file == name
        assert issue.line is None or issue.line >= 1
        # The guard's messages would mean a parsing bug was caught, not a problem in the data.
        assert not issue.message.startswith(("import failed", "the imported "))


@pytest.mark.parametrize("name", ALL_FILES)
@pytest.mark.parametrize("fraction", [0.2, 0.5, 0.8])
def test_a_truncated_file_is_reported_not_raised(name: str, fraction: float) -> None:
    text = (FIXTURES / name).read_text(encoding="utf-8")
    result = IMPORTERS[name.split("/")[0]](text[: int(len(text) * fraction)], name)

    assert result.framework is not None or result.errors
    assert not any(i.message.startswith("import failed") for i in result.issues)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_counts_per_file(name: str) -> None:
    result = imported(name)

    assert not result.errors
    assert counts(result) == EXPECTED[name]


@pytest.mark.parametrize("name", sorted(NOT_FRAMEWORKS))
def test_a_file_that_is_not_a_framework_gives_no_framework_and_an_error(name: str) -> None:
    result = imported(name)

    assert result.framework is None
    assert [(i.line, i.severity) for i in result.issues] == [(1, "error")]


@pytest.mark.parametrize("fmt", ["yaml", "json"])
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_imported_framework_exports_and_imports_back_identically(
    name: str, fmt: Literal["yaml", "json"]
) -> None:
    """docs/domain.md §2, Import and export: the service's own format loses nothing."""
    framework = framework_of(name)
    exported = formats.write(framework, imported(name).framework_id, fmt)

    again = formats.read(exported, f"{name}.{fmt}")

    assert again.issues == []
    assert again.framework == framework
    assert again.framework_id == imported(name).framework_id


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_imported_framework_exports_its_grid_and_reads_it_back_unchanged(
    name: str,
) -> None:
    """The CSV grid keeps what a grid holds: exported again, it is the same file."""
    grid = formats.write(framework_of(name), "x", "csv")

    again = formats.read(grid, f"{name}.csv")

    assert again.framework is not None
    assert formats.write(again.framework, "x", "csv") == grid


# --- Monzo -------------------------------------------------------------------------------------

MONZO = sorted(n for n in EXPECTED if n.startswith("monzo/"))


@pytest.mark.parametrize("name", MONZO)
def test_monzo_roles_have_no_targets_and_every_nature_is_flagged_as_inferred(name: str) -> None:
    result = imported(name)
    framework = framework_of(name)
    inferred = [i for i in result.issues if "inferred" in i.message]
    untargeted = [i for i in result.issues if "target" in i.message]

    assert {q.target for role in framework.roles for q in role.requirements} == {None}
    assert len(untargeted) == 1
    assert untargeted[0].line is None
    assert len(inferred) == len(framework.competencies)
    assert all(i.severity == "warning" and i.line and i.field for i in inferred)
    assert {c.kind for c in framework.competencies} == {"functional"}
    assert {c.family for c in framework.competencies} == {framework.families[0].key}


def test_monzo_people_tab_after_dash_is_repaired_with_a_warning_naming_line_and_field() -> None:
    name = "monzo/frameworks/people.md"
    framework = framework_of(name)
    l1 = framework.role("people-l1")
    (tab,) = [i for i in imported(name).issues if i.line == 205]

    assert (tab.severity, tab.field) == ("warning", "topics[4].content[0].criteria[0]")
    assert "tab after '-'" in tab.message
    assert l1 is not None
    assert [len(q.behaviours) for q in l1.requirements if q.competency == "conduct-culture"] == [4]


def test_monzo_people_topic_names_split_into_key_name_and_description() -> None:
    framework = framework_of("monzo/frameworks/people.md")

    assert [c.key for c in framework.competencies] == [
        "communication",
        "impact",
        "knowledge-and-thinking",
        "teamwork",
        "conduct-culture",
    ]
    assert all(c.description for c in framework.competencies)
    assert [c.nature for c in framework.competencies] == [
        "behavioural",
        "technical",
        "technical",
        "behavioural",
        "behavioural",
    ]


def test_monzo_ops_leadership_keeps_the_source_level_numbers_and_warns_on_the_count() -> None:
    name = "monzo/frameworks/operations/ops-leadership.md"
    framework = framework_of(name)
    (track,) = framework.families[0].tracks

    assert issues_at(name, 7) == [
        "warning|levels|declares 5 levels but the criteria are at levels 2, 3, 4, 5, 6: "
        "imported those levels (L2, L3, L4, L5, L6)"
    ]
    assert track.kind == "manager"
    assert [(lv.code, lv.grade) for lv in track.levels] == [(f"L{n}", n) for n in range(2, 7)]
    assert [r.key for r in framework.roles] == [f"ops-leadership-l{n}" for n in range(2, 7)]


def test_monzo_front_matter_closed_at_end_of_file_without_newline() -> None:
    result = imported("monzo/frameworks/customer-operations.md")
    framework = framework_of("monzo/frameworks/customer-operations.md")

    assert not result.errors
    assert framework.description == ""
    assert [len(r.requirements) for r in framework.roles] == [4, 4]


def test_monzo_identity_family_and_track_come_from_the_front_matter() -> None:
    backend = framework_of("monzo/frameworks/engineering/backend.md")
    quality = framework_of("monzo/frameworks/engineering/qualityanalyst.md")
    (family,) = backend.families

    assert (family.key, family.name, family.tracks[0].kind) == ("backend", "Backend", "ic")
    assert backend.name == "Backend Engineering Framework"
    assert quality.families[0].key == "quality"
    assert [c.key for c in backend.competencies] == [
        "communication",
        "impact",
        "leadership",
        "influence",
        "mastery",
    ]
    assert [r.key for r in backend.roles] == [f"backend-l{n}" for n in range(1, 7)]
    # The prose under the front matter is the description; the topics' lines are reported.
    assert backend.description
    assert issues_at("monzo/frameworks/engineering/backend.md", 92)[0].startswith(
        "warning|topics[2].name|nature 'behavioural'"
    )


@pytest.mark.parametrize("name", [n for n in MONZO if "/design/" in n])
def test_monzo_markdown_grid_gives_one_behaviour_per_paragraph(name: str) -> None:
    framework = framework_of(name)

    assert [c.key for c in framework.competencies] == ["knowledge", "ownership", "collaboration"]
    assert [[len(q.behaviours) for q in r.requirements] for r in framework.roles] == [[1, 1, 1]] * 6
    assert framework.description == ""


MADE_UP = """---
path: "/team/role"
title: "Role"
levels: 2
topics:
  - name: "craft"
    title:
    content:
      - level: 1
        criteria:
          - "Does a"
        exampleCriteria:
          - criteria: "Does b"
            examples:
              - "first"
              - "second"
          - criteria: "Does c"
      - level: 2
        criteria:
          - "Does d"
        colour: "red"
---
"""


def test_monzo_example_criteria_keep_their_examples_and_unknown_fields_are_reported() -> None:
    result = monzo.load(MADE_UP, "role.md")
    framework = result.framework

    assert framework is not None
    assert [q.behaviours for q in framework.roles[0].requirements] == [
        ["Does a", "Does b (for example: first; second)", "Does c"]
    ]
    assert framework.competencies[0].name == "Craft"
    assert [(i.line, i.field) for i in result.issues if "not imported" in i.message] == [
        (21, "topics[0].content[1].colour")
    ]


def test_monzo_yaml_error_is_an_error_at_its_file_line() -> None:
    broken = MADE_UP.replace('        colour: "red"', '    title: "x": y')
    result = monzo.load(broken, "role.md")

    assert result.framework is None
    assert [(i.line, i.severity) for i in result.issues] == [(21, "error")]
    assert result.framework_id == "role"


def test_monzo_front_matter_never_closed_is_an_error() -> None:
    result = monzo.load(MADE_UP.rstrip().removesuffix("---"), "role.md")

    assert result.framework is None
    assert [(i.line, i.severity) for i in result.issues] == [(1, "error")]


# --- Engineering Ladders -----------------------------------------------------------------------

# family key, track, grades (the Level column of each page's table)
LADDERS = {
    "engineeringladders/Developer.md": ("developer", "ic", [1, 2, 3, 4, 5, 6, 7]),
    "engineeringladders/TechLead.md": ("tech-lead", "ic", [4, 5, 6, 7]),
    "engineeringladders/TechnicalProgramManager.md": (
        "technical-program-manager",
        "ic",
        [4, 5, 6, 7],
    ),
    "engineeringladders/EngineeringManager.md": ("engineering-manager", "manager", [5, 6, 7]),
}


@pytest.mark.parametrize("name", sorted(LADDERS))
def test_ladder_page_maps_each_bullet_to_its_axis_with_an_anchored_target(name: str) -> None:
    framework = framework_of(name)
    family_key, kind, grades = LADDERS[name]
    (family,) = framework.families
    (track,) = family.tracks
    axes = ["technology", "system", "people", "process", "influence"]

    assert (family.key, track.kind, framework.scale) == (family_key, kind, "1..5")
    assert [c.key for c in framework.competencies] == axes
    assert [c.nature for c in framework.competencies] == [
        "technical",
        "technical",
        "behavioural",
        "behavioural",
        "behavioural",
    ]
    people = framework.competency("people")
    assert people is not None
    assert people.kind == ("leadership" if kind == "manager" else "functional")
    assert [lv.grade for lv in track.levels] == grades
    for role in framework.roles:
        assert [q.competency for q in role.requirements] == axes
        for q in role.requirements:
            competency = framework.competency(q.competency)
            assert competency is not None
            assert q.target is not None
            assert len(q.behaviours) == 1
            assert competency.anchor(kind, q.target) is not None
    # The Senior column is the only thing on a ladder page the model cannot hold.
    assert [(i.line, i.field) for i in imported(name).issues] == [(5, "Senior")]


def test_developer_targets_follow_the_stage_of_each_keyword() -> None:
    framework = framework_of("engineeringladders/Developer.md")

    assert [[q.target for q in r.requirements] for r in framework.roles] == [
        [1, 1, 1, 1, 1],
        [1, 2, 2, 2, 1],
        [2, 2, 2, 3, 2],
        [3, 3, 3, 3, 2],
        [4, 4, 3, 4, 3],
        [5, 5, 3, 4, 4],
        [5, 5, 3, 4, 5],
    ]
    assert [r.key for r in framework.roles] == [f"developer-d{n}" for n in range(1, 8)]


def test_readme_columns_become_families_and_axes_carry_the_stages_as_anchors() -> None:
    name = "engineeringladders/README.md"
    framework = framework_of(name)

    assert [
        (f.key, f.tracks[0].kind, [lv.code for lv in f.tracks[0].levels])
        for f in framework.families
    ] == [
        ("developer", "ic", [f"D{n}" for n in range(1, 8)]),
        ("tech-lead", "ic", [f"TL{n}" for n in range(4, 8)]),
        ("technical-program-manager", "ic", [f"TPM{n}" for n in range(4, 8)]),
        ("engineering-manager", "manager", [f"EM{n}" for n in range(5, 8)]),
    ]
    assert all(f.description for f in framework.families)
    for competency in framework.competencies:
        assert competency.kind == "core"
        assert [(a.track, a.proficiency) for a in competency.anchors] == [
            ("ic", n) for n in range(1, 6)
        ]
    assert issues_at(name, 95) == ["warning|FAQs|section not imported"]
    assert issues_at(name, 26) == ["warning|Senior|the Senior column (Yes/No) is not imported"]


def test_managing_managers_areas_become_leadership_competencies_and_tables_are_reported() -> None:
    name = "engineeringladders/Managing-Managers.md"
    framework = framework_of(name)
    tables = [i for i in imported(name).issues if "table" in i.message]

    assert [(c.key, c.kind, c.nature) for c in framework.competencies] == [
        (key, "leadership", "behavioural")
        for key in ("delivery", "goals", "planning", "oversight", "relationships")
    ]
    assert all(c.description for c in framework.competencies)
    assert [(i.line, i.field) for i in tables] == [
        (25, "Delivery"),
        (38, "Goals"),
        (51, "Planning"),
        (64, "Oversight"),
        (76, "Relationships"),
    ]


def test_comparison_page_is_an_empty_framework_with_a_warning_at_its_table() -> None:
    name = "engineeringladders/TechLead-EngineeringManager.md"
    framework = framework_of(name)

    assert framework.description
    assert issues_at(name, 9) == [
        "warning|None|comparison page: no levels or behaviours to map; its table is not imported"
    ]


MADE_UP_LADDER = """# Widget Maker

| Level | Senior | Position |
| :---: | :---: | :---: |
| 2 | No | [WM2 - Widget Maker 2](#wm2) |

## WM2 - Widget Maker 2

* **Adopts**: a
* **Tinkers**: b
* **Learns**: c
* plain
* **Team**: e
"""


def test_ladder_unknown_keyword_falls_back_to_position_without_target() -> None:
    result = engineering_ladders.load(MADE_UP_LADDER, "WidgetMaker.md")
    framework = result.framework

    assert framework is not None
    (role,) = framework.roles
    assert [(q.competency, q.target, q.behaviours) for q in role.requirements] == [
        ("technology", 1, ["Adopts: a"]),
        ("system", None, ["Tinkers: b"]),
        ("people", 1, ["Learns: c"]),
        ("influence", 2, ["Team: e"]),
    ]
    assert [(i.line, i.field) for i in result.issues] == [
        (3, "Senior"),
        (10, "WM2 - Widget Maker 2[1]"),
        (12, "WM2 - Widget Maker 2[3]"),
        (7, "WM2 - Widget Maker 2"),
    ]
    assert framework.families[0].tracks[0].levels[0].grade == 2
