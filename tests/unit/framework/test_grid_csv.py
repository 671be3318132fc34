"""The framework as a CSV grid for spreadsheet users (docs/domain.md §2, The grid; Import and
export).

One row per (role profile, requirement) cell; reading it back gives the same framework for what
a grid can hold, and every conflict or bad value names the CSV line and column.
"""

from __future__ import annotations

import csv
import io
import time

import pytest

from libs.events.schemas.framework import (
    Anchor,
    Competency,
    CompetencyCategory,
    DeploymentRule,
    Framework,
    JobFamily,
    Level,
    LevelDescriptor,
    Requirement,
    RoleProfile,
    SubSkill,
    Tier,
    Track,
)
from services.framework.adapters.files import grid_csv

# without family anchors nor sub-skills, their columns are not written
HEADER = ",".join(c for c in grid_csv.COLUMNS if c not in grid_csv.ELIDED)


def level(code: str, name: str, grade: int, tier: Tier | None = None) -> Level:
    return Level(code=code, name=name, grade=grade, tier=tier)


# only what a grid holds, in grid order (see the grid_csv module docstring)
GRID = Framework(
    name="Customer Support",
    categories=[
        CompetencyCategory(key="interpersonal", name="Interpersonal"),
        CompetencyCategory(key="technical", name="Technical"),
        CompetencyCategory(key="leadership-people", name="Leadership & People"),
    ],
    families=[
        JobFamily(
            key="support",
            name="Customer Support",
            tracks=[
                Track(
                    kind="ic",
                    levels=[
                        level("CS1", "Support Associate", 2),
                        level("CS2", "Support Specialist", 3, "individual_contributor"),
                        level("CS3", "Senior Specialist", 4),
                    ],
                ),
                Track(kind="manager", levels=[level("SM1", "Team Lead", 3, "manager")]),
            ],
        )
    ],
    competencies=[
        Competency(
            key="empathy",
            name="Customer empathy",
            category="interpersonal",
            kind="core",
            nature="behavioural",
            anchors=[
                Anchor(track="ic", proficiency=2, text="Softens the tone when reminded."),
                Anchor(track="manager", proficiency=3, text="Coaches tone in case reviews."),
            ],
        ),
        Competency(
            key="troubleshooting",
            name="Troubleshooting, step by step",
            category="technical",
            kind="functional",
            nature="technical",
        ),
        Competency(
            key="coaching",
            name="Coaching",
            category="leadership-people",
            kind="leadership",
            nature="behavioural",
        ),
        Competency(key="writing", name="Clear writing", kind="core", nature="behavioural"),
    ],
    roles=[
        RoleProfile(
            key="associate",
            name="Support Associate",
            family="support",
            track="ic",
            level="CS1",
            requirements=[
                Requirement(
                    competency="empathy",
                    target=2,
                    behaviours=["Thanks the customer for waiting", "Names the frustration"],
                ),
                Requirement(competency="troubleshooting", target=1),
            ],
        ),
        RoleProfile(key="specialist", name="Specialist", family="support", track="ic", level="CS2"),
        RoleProfile(
            key="team-lead",
            name="Team Lead",
            family="support",
            track="manager",
            level="SM1",
            requirements=[
                Requirement(competency="empathy", target=3),
                Requirement(competency="coaching", behaviours=["Runs weekly 1:1s"]),
            ],
        ),
    ],
)

GRID_CSV = f"""\
{HEADER}\r
support,Customer Support,ic,CS1,Support Associate,2,,associate,Support Associate,empathy,\
Customer empathy,Interpersonal,core,behavioural,2,"Thanks the customer for waiting
Names the frustration",Softens the tone when reminded.\r
support,Customer Support,ic,CS1,Support Associate,2,,associate,Support Associate,\
troubleshooting,"Troubleshooting, step by step",Technical,functional,technical,1,,\r
support,Customer Support,ic,CS2,Support Specialist,3,individual_contributor,specialist,\
Specialist,,,,,,,,\r
support,Customer Support,ic,CS3,Senior Specialist,4,,,,,,,,,,,\r
support,Customer Support,manager,SM1,Team Lead,3,manager,team-lead,Team Lead,empathy,\
Customer empathy,Interpersonal,core,behavioural,3,,Coaches tone in case reviews.\r
support,Customer Support,manager,SM1,Team Lead,3,manager,team-lead,Team Lead,coaching,Coaching,\
Leadership & People,leadership,behavioural,,Runs weekly 1:1s,\r
,,,,,,,,,writing,Clear writing,,core,behavioural,,,\r
"""


def issues(text: str, file: str = "grid.csv") -> list[tuple[int | None, str | None, str, str]]:
    return [(i.line, i.field, i.severity, i.message) for i in grid_csv.load(text, file).issues]


def test_dump_writes_one_row_per_cell_and_rows_for_what_has_no_cell():
    assert grid_csv.dump(GRID) == GRID_CSV


def test_what_a_grid_holds_comes_back_unchanged():
    result = grid_csv.load(grid_csv.dump(GRID), "exports/grid.csv", name="Customer Support")
    assert result.issues == []
    assert result.framework == GRID
    assert (result.format, result.framework_id) == ("csv", "customer-support")


def test_the_name_defaults_to_the_file_name():
    result = grid_csv.load(GRID_CSV, "exports/customer_support-grid.csv")
    assert result.framework is not None
    assert result.framework.name == "Customer support grid"
    assert result.framework_id == "customer-support-grid"


def test_what_a_grid_cannot_hold_is_dropped_but_the_grid_is_stable():
    richer = GRID.model_copy(
        update={
            "description": "not in the grid",
            "families": [
                GRID.families[0].model_copy(
                    update={
                        "tracks": [
                            Track(
                                kind="ic",
                                levels=[
                                    level("CS1", "Support Associate", 2).model_copy(
                                        update={"descriptor": LevelDescriptor(scope="One queue")}
                                    )
                                ],
                            )
                        ]
                    }
                )
            ],
            "rules": [DeploymentRule(key="all", scope="core", competency="empathy")],
        }
    )
    text = grid_csv.dump(richer)
    again = grid_csv.load(text, "grid.csv")
    assert again.issues == []
    assert again.framework is not None
    assert (again.framework.description, again.framework.rules) == ("", [])
    assert grid_csv.dump(again.framework) == text


def test_a_role_at_a_level_that_does_not_exist_stays_a_reference():
    ghost = RoleProfile(key="ghost", name="Ghost", family="nowhere", track="ic", level="X9")
    framework = GRID.model_copy(update={"roles": [*GRID.roles, ghost]})
    text = grid_csv.dump(framework)
    assert ",".join(["nowhere", "", "ic", "X9", "", "", "", "ghost", "Ghost"]) in text
    result = grid_csv.load(text, "grid.csv", name=GRID.name)
    assert result.framework == framework


def test_columns_may_come_in_any_order_and_optional_ones_may_be_missing():
    columns = [c for c in reversed(grid_csv.COLUMNS) if c not in grid_csv.OPTIONAL]
    row = {
        **dict.fromkeys(columns, ""),
        **{"family": "support", "family_name": "Support", "track": "ic", "level": "L1"},
        **{"level_name": "One", "grade": "1", "role": "agent", "role_name": "Agent"},
    }
    text = ",".join(columns) + "\n" + ",".join(row[c] for c in columns) + "\n"
    result = grid_csv.load(text, "grid.csv")
    assert result.issues == []
    assert result.framework is not None
    assert result.framework.roles[0].level == "L1"


def test_missing_columns_are_one_error_naming_them():
    text = HEADER.replace(",grade", "").replace(",nature", "") + "\n"
    result = grid_csv.load(text, "grid.csv")
    assert result.framework is None
    [issue] = result.issues
    assert (issue.line, issue.field, issue.severity) == (1, None, "error")
    assert issue.message.startswith("missing required columns: grade, nature; a grid has")


def test_unknown_columns_and_cells_beyond_the_header_are_warnings():
    text = GRID_CSV.replace("anchor\r\n", "anchor,notes\r\n").replace(
        ",,,,,,,,,,\r\n", ",,,,,,,,,,,stray\r\n", 1
    )
    result = grid_csv.load(text, "grid.csv", name=GRID.name)
    assert result.framework == GRID
    assert [(i.line, i.field, i.severity) for i in result.issues] == [
        (1, "notes", "warning"),
    ]
    text = GRID_CSV.replace(",,,,,,,,,,\r\n", ",,,,,,,,,,,stray\r\n", 1)
    assert issues(text) == [(6, None, "warning", "cells right of the last column ignored")]


ROWS = [
    HEADER,
    # line 2 and 3: one row, its behaviours cell spans two lines
    'support,Support,ic,S1,Associate,3,,agent,Agent,empathy,Empathy,,core,behavioural,2,"Listens\n'
    'Acknowledges",',
    "support,Support,ic,S1,Associate,4,,agent,Agent,product,Product,,functional,technical,2,,",
    "support,Support,ic,S2,Specialist,5,,senior,Senior,empathy,Empathy,,core,technical,3,,",
]


def grid(*rows: str) -> str:
    return "\n".join([*ROWS, *rows]) + "\n"


def test_conflicting_facts_name_the_line_and_column_of_both():
    assert issues(grid()) == [
        (
            4,
            "grade",
            "error",
            "level 'S1' of support/ic has grade '4' here but '3' on line 2: give one value",
        ),
        (
            5,
            "nature",
            "error",
            "competency 'empathy' has nature 'technical' here but 'behavioural' on line 2: "
            "give one value",
        ),
    ]
    assert grid_csv.load(grid(), "grid.csv").framework is None


def fixed(*rows: str) -> str:
    return (
        grid(*rows)
        .replace("Associate,4", "Associate,3")
        .replace("core,technical", "core,behavioural")
    )


def test_a_fixed_grid_loads():
    result = grid_csv.load(fixed(), "grid.csv")
    assert result.issues == []
    assert result.framework is not None
    [role] = [r for r in result.framework.roles if r.key == "agent"]
    assert role.requirements[0].behaviours == ["Listens", "Acknowledges"]


@pytest.mark.parametrize(
    ("row", "field", "message"),
    [
        pytest.param(
            "support,Support,ic,S3,Lead,three,,,,,,,,,,,",
            "grade",
            "Input should be a valid integer, unable to parse string as an integer (found 'three')",
            id="grade not a number",
        ),
        pytest.param(
            "support,Support,ic,S1,Associate,3,,agent,Agent,empathy,,,,,9,,",
            "target",
            "Input should be less than or equal to 5 (found '9')",
            id="target out of range",
        ),
        pytest.param(
            "support,Support,lead,S3,Lead,6,,,,,,,,,,,",
            "track",
            "Input should be 'ic' or 'manager' (found 'lead')",
            id="unknown track",
        ),
        pytest.param(
            ",,,,,,,,,writing,Writing,,core,,,,",
            "nature",
            "required, but missing",
            id="competency without nature",
        ),
        pytest.param(
            "support,Support,ic,S1,Associate,3,,agent,Agent,empathy,,,,,,,Listens well",
            "anchor",
            "an anchor describes a target proficiency: give the target",
            id="anchor without target",
        ),
        pytest.param(
            ",,,,,,,,,empathy,,,,,3,,",
            "target",
            "a target, behaviours or an anchor belong to a cell: give a role and a competency",
            id="target without role",
        ),
        pytest.param(
            "support,Support,ic,S1,Associate,3,,agent,Agent,ghost,,,,,3,,Boo",
            "anchor",
            "competency 'ghost' has an anchor but no definition: give its competency_name, "
            "kind and nature",
            id="anchor of an undefined competency",
        ),
        pytest.param(
            "support,Support,ic,S1,Associate,3,,Agent Smith,Agent,,,,,,,,",
            "role",
            "a key is lower-case letters, digits, '.', '_' or '-', starting with a letter or "
            "digit (found 'Agent Smith')",
            id="role key not a slug",
        ),
    ],
)
def test_a_bad_cell_names_its_line_and_column(row, field, message):
    # line 6: after the header, a two-line row and two more rows
    assert issues(fixed(row)) == [(6, field, "error", message)]


def test_categories_are_keyed_by_the_slug_of_their_name():
    text = fixed(
        ",,,,,,,,,a,A,Tech,core,technical,,,",
        ",,,,,,,,,b,B,tech,core,technical,,,",
        ",,,,,,,,,c,C,Tech,core,technical,,,",
    )
    framework = grid_csv.load(text, "grid.csv").framework
    assert framework is not None
    assert framework.categories == [
        CompetencyCategory(key="tech", name="Tech"),
        CompetencyCategory(key="tech-2", name="tech"),
    ]
    assert [c.category for c in framework.competencies[-3:]] == ["tech", "tech-2", "tech"]


def test_a_byte_order_mark_and_spaces_around_keys_are_ignored():
    text = "\ufeff" + GRID_CSV.replace("support,", " support ,", 1)
    assert grid_csv.load(text, "grid.csv", name=GRID.name).framework == GRID


def test_a_repeated_column_is_an_error():
    text = GRID_CSV.replace("anchor\r\n", "anchor,grade\r\n", 1)
    result = grid_csv.load(text, "grid.csv")
    assert result.framework is None
    assert issues(text) == [(1, "grade", "error", "the column appears more than once: keep one")]


def test_the_framework_grid_neutralises_formulas_and_reads_them_back() -> None:
    """The grid is exported for spreadsheets and imported back: a competency named like a
    formula is harmless in the file and the same text after the round trip."""
    hostile = GRID.model_copy(
        update={
            "competencies": [
                GRID.competencies[0].model_copy(update={"name": "=cmd|' /C calc'!A0"}),
                *GRID.competencies[1:],
            ]
        }
    )
    text = grid_csv.dump(hostile)
    cells = [cell for row in csv.reader(io.StringIO(text)) for cell in row]
    assert "'=cmd|' /C calc'!A0" in cells
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in cells)
    back = grid_csv.load(text, "fw.csv", name=hostile.name).framework
    assert isinstance(back, Framework)
    assert back.competencies[0].name == "=cmd|' /C calc'!A0"
    assert grid_csv.dump(back) == text


def test_a_familys_own_anchors_travel_in_the_family_anchor_column():
    """The family's wording beside the common anchor, or alone where there is no common one."""
    empathy, troubleshooting, *others = GRID.competencies
    common_ic, common_manager = empathy.anchors
    own = Anchor(
        track="ic", proficiency=2, text="Names the customer's frustration.", family="support"
    )
    alone = Anchor(track="ic", proficiency=1, text="Follows the runbook.", family="support")
    # in row order: a common anchor comes before the family's own on the same row
    competencies = [
        empathy.model_copy(update={"anchors": [common_ic, own, common_manager]}),
        troubleshooting.model_copy(update={"anchors": [alone]}),
        *others,
    ]
    framework = GRID.model_copy(update={"competencies": competencies})
    text = grid_csv.dump(framework)
    assert text.startswith(f"{HEADER},family_anchor\r\n")
    assert "Softens the tone when reminded.,Names the customer's frustration.\r\n" in text
    assert ",technical,1,,,Follows the runbook.\r\n" in text
    result = grid_csv.load(text, "grid.csv", name=GRID.name)
    assert result.issues == []
    assert result.framework == framework


def test_a_family_anchor_needs_a_cell_with_a_target():
    header = f"{HEADER},family_anchor"
    assert issues(
        f"{header}\r\n"
        "support,Support,ic,S1,Associate,1,,s1,S1,empathy,Empathy,,core,behavioural,,,,Own.\r\n"
        ",,,,,,,,,,,,,,,,,Stray.\r\n"
    ) == [
        (2, "family_anchor", "error", "an anchor describes a target proficiency: give the target"),
        (
            3,
            "family_anchor",
            "error",
            "a target, behaviours or an anchor belong to a cell: give a role and a competency",
        ),
    ]


def test_sub_skills_and_their_anchors_travel_in_rows_of_their_own():
    """docs/framework-format.md, CSV grid: one row per anchor of a sub-skill (one row for a
    sub-skill without), after the cells, whatever targets the roles expect."""
    empathy, *others = GRID.competencies
    skills = [
        SubSkill(
            key="names-the-feeling",
            name="Names the frustration",
            anchors=[
                Anchor(track="ic", proficiency=4, text="Names it before the customer does."),
                Anchor(track="ic", proficiency=4, text="Names it, then asks.", family="support"),
            ],
        ),
        SubSkill(key="thanks", name="Thanks for patience"),
    ]
    framework = GRID.model_copy(
        update={"competencies": [empathy.model_copy(update={"sub_skills": skills}), *others]}
    )
    text = grid_csv.dump(framework)
    assert text.startswith(f"{HEADER},family_anchor,sub_skill,sub_skill_name\r\n")
    rows = list(csv.DictReader(io.StringIO(text)))
    sub_skill_rows = [r for r in rows if r["sub_skill"]]
    assert [
        (r["family"], r["track"], r["target"], r["anchor"], r["family_anchor"], r["sub_skill"])
        for r in sub_skill_rows
    ] == [
        ("", "ic", "4", "Names it before the customer does.", "", "names-the-feeling"),
        ("support", "ic", "4", "", "Names it, then asks.", "names-the-feeling"),
        ("", "", "", "", "", "thanks"),
    ]
    assert rows[-len(sub_skill_rows) - 1]["competency"] == "writing", "after every cell"
    result = grid_csv.load(text, "grid.csv", name=GRID.name)
    assert result.issues == []
    assert result.framework == framework


@pytest.mark.parametrize(
    ("cells", "column", "message"),
    [
        (
            ",,,,,,,s1,S1,empathy,,,,,,,,x,X",
            "role",
            "a sub-skill row describes a sub-skill, in no role: leave the role blank",
        ),
        (",,,,,,,,,,,,,,,,,x,X", "sub_skill", "a sub-skill belongs to a competency"),
        (",,ic,,,,,,,empathy,,,,,,Asks,,x,X", "behaviours", "behaviours belong to a cell"),
        (",,ic,,,,,,,empathy,,,,,2,,,x,X", "target", "the target is the proficiency of its"),
        (",,ic,,,,,,,empathy,,,,,,,Says so.,x,X", "anchor", "give the target"),
        (",,,,,,,,,empathy,,,,,,,,x,Y", "sub_skill_name", "sub-skill 'empathy/x' has"),
        (",,,,,,,,,ghost,,,,,,,,x,X", "sub_skill", "competency 'ghost' has a sub-skill but"),
    ],
)
def test_a_sub_skill_row_that_says_something_else_is_an_error(cells, column, message):
    text = (
        f"{HEADER},sub_skill,sub_skill_name\r\n"
        ",,,,,,,,,empathy,Empathy,,core,behavioural,,,,x,X\r\n"
        f"{cells}\r\n"
    )
    found = [(line, field) for line, field, severity, text in issues(text) if message in text]
    assert found == [(3, column)], issues(text)


def test_a_framework_assessed_per_sub_skill_says_so_on_every_row():
    """docs/framework-format.md, CSV grid: `granularity` is the framework's, repeated on every
    row; a grid without the column (or with it blank) is assessed per competency."""
    framework = GRID.model_copy(update={"granularity": "sub_skill"})
    text = grid_csv.dump(framework)
    assert text.startswith(f"{HEADER},granularity\r\n")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {r["granularity"] for r in rows} == {"sub_skill"}
    result = grid_csv.load(text, "grid.csv", name=GRID.name)
    assert result.issues == []
    assert result.framework == framework
    older = grid_csv.load(GRID_CSV, "grid.csv", name=GRID.name).framework
    assert older is not None
    assert older.granularity == "competency"


def test_a_framework_on_another_scale_says_so_on_every_row():
    """`scale` travels like `granularity`: a 1..5 framework does not come back on 0..5."""
    framework = GRID.model_copy(update={"scale": "1..5"})
    text = grid_csv.dump(framework)
    assert text.startswith(f"{HEADER},scale\r\n")
    assert {r["scale"] for r in csv.DictReader(io.StringIO(text))} == {"1..5"}
    result = grid_csv.load(text, "grid.csv", name=GRID.name)
    assert result.issues == []
    assert result.framework == framework
    assert grid_csv.load(GRID_CSV, "grid.csv", name=GRID.name).framework.scale == "0..5"  # type: ignore[union-attr]


def test_a_framework_without_rows_keeps_its_granularity_on_a_row_of_its_own():
    empty = Framework(name="Empty", granularity="sub_skill")
    text = grid_csv.dump(empty)
    assert text.endswith(f"\r\n{',' * (len(HEADER.split(',')))}sub_skill\r\n")
    assert grid_csv.load(text, "grid.csv", name="Empty").framework == empty


@pytest.mark.parametrize(
    ("second", "line", "message"),
    [
        ("competency", 3, "the framework has granularity 'competency' here but 'sub_skill'"),
        ("per-skill", 3, "the framework has granularity 'per-skill' here but 'sub_skill'"),
    ],
)
def test_rows_disagreeing_on_the_granularity_name_both_lines(second, line, message):
    text = (
        f"{HEADER},granularity\r\n"
        ",,,,,,,,,empathy,Empathy,,core,behavioural,,,,sub_skill\r\n"
        f",,,,,,,,,writing,Writing,,core,behavioural,,,,{second}\r\n"
    )
    assert (line, "granularity", "error", f"{message} on line 2: give one value") in issues(text)


def test_an_unknown_granularity_names_its_line_and_column():
    text = f"{HEADER},granularity\r\n,,,,,,,,,empathy,Empathy,,core,behavioural,,,,per-skill\r\n"
    [(line, column, severity, message)] = issues(text)
    assert (line, column, severity) == (2, "granularity", "error")
    assert "'competency' or 'sub_skill'" in message


def test_a_cell_of_many_long_behaviours_reads_back():
    """A `behaviours` cell holds any number of behaviours of up to 4,000 characters: 40 of
    them make a 160,039-character cell, beyond csv's default limit of 131,072, and the grid
    the service writes must still read back."""
    behaviours = [f"{i:02d}" + "x" * 3_998 for i in range(40)]
    associate, *others = GRID.roles
    empathy, troubleshooting = associate.requirements
    framework = GRID.model_copy(
        update={
            "roles": [
                associate.model_copy(
                    update={
                        "requirements": [
                            empathy.model_copy(update={"behaviours": behaviours}),
                            troubleshooting,
                        ]
                    }
                ),
                *others,
            ]
        }
    )
    text = grid_csv.dump(framework)
    cell = "\n".join(behaviours)
    assert len(cell) == 160_039
    assert f'"{cell}"' in text
    result = grid_csv.load(text, "grid.csv", name=GRID.name)
    assert result.issues == []
    assert result.framework == framework


def test_a_grid_of_10000_sub_skills_loads_in_time_linear_in_its_rows():
    """Each sub-skill's anchors are found among its competency's by lookup, not by a scan of
    every anchor: 10,000 rows, each a sub-skill of its own with one anchor, took 116 s when
    every sub-skill scanned them all, and take about 2 s read once. The bound is generous for
    a busy machine and still far below the quadratic reading."""
    rows = [
        f"{HEADER},sub_skill,sub_skill_name",
        ",,,,,,,,,empathy,Empathy,,core,behavioural,,,,,",
        *(f",,ic,,,,,,,empathy,,,,,3,,Does {i}.,s{i},Skill {i}" for i in range(10_000)),
    ]
    started = time.perf_counter()
    result = grid_csv.load("\r\n".join(rows) + "\r\n", "grid.csv")
    took = time.perf_counter() - started
    assert result.issues == []
    assert result.framework is not None
    [empathy] = result.framework.competencies
    assert len(empathy.sub_skills) == 10_000
    assert empathy.sub_skills[9_999].key == "s9999"
    assert [(a.track, a.proficiency, a.text) for a in empathy.sub_skills[9_999].anchors] == [
        ("ic", 3, "Does 9999.")
    ]
    assert took < 20, f"{took:.1f}s"
