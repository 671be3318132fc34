"""The framework's own file format, YAML and JSON (docs/domain.md §2, Import and export).

Export then import gives the same framework; every import error names the line and the field
and says what to fix; the published JSON Schema is the one the code generates.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from libs.events.schemas.framework import (
    Anchor,
    Competency,
    CompetencyCategory,
    Crossover,
    DeploymentRule,
    Framework,
    JobFamily,
    LateralPath,
    Level,
    LevelDescriptor,
    Requirement,
    RoleProfile,
    SubSkill,
    Track,
)
from services.framework.adapters.files import grid_csv, native
from services.framework.domain.rules import validate

ROOT = Path(__file__).resolve().parents[3]
REGENERATE = (
    ".venv/bin/python -m services.framework.adapters.files.native > docs/framework.schema.json"
)

SUPPORT = Framework(
    name="Support & Success",
    description="How we grow people who help customers.\nReviewed every spring.\n",
    scale="1..5",
    granularity="sub_skill",
    taxonomy="ESCO",
    categories=[CompetencyCategory(key="interpersonal", name="Interpersonal")],
    families=[
        JobFamily(
            key="support",
            name="Customer Support",
            description="Chat, mail and phone — in 4 languages.",
            tracks=[
                Track(
                    kind="ic",
                    levels=[
                        Level(code="CS1", name="Associate", grade=2),
                        Level(
                            code="CS2",
                            name="Specialist",
                            grade=3,
                            tier="individual_contributor",
                            descriptor=LevelDescriptor(
                                scope="Owns complex cases", autonomy="Unsupervised", impact="Team"
                            ),
                        ),
                    ],
                ),
                Track(
                    kind="manager",
                    levels=[Level(code="SM1", name="Team Lead", grade=3, tier="manager")],
                    crossover=Crossover(from_level="CS2", leadership_competencies=["coaching"]),
                ),
            ],
        ),
        JobFamily(
            key="success",
            name="Customer Success",
            tracks=[Track(kind="ic", levels=[Level(code="CX1", name="Manager", grade=3)])],
        ),
    ],
    lateral_paths=[
        LateralPath(
            from_family="support", to_family="success", transferable=["empathy"], gaps=["sales"]
        )
    ],
    competencies=[
        Competency(
            key="empathy",
            name="Empathie client",
            category="interpersonal",
            kind="core",
            nature="behavioural",
            description="Sees the problem through the customer's eyes.",
            sub_skills=[
                SubSkill(
                    key="names-feelings",
                    name="Names the frustration first",
                    anchors=[
                        Anchor(track="ic", proficiency=2, text="Names it when asked."),
                        Anchor(
                            track="ic", proficiency=2, text="Names it, in French.", family="success"
                        ),
                    ],
                ),
                SubSkill(key="follows-up", name="Follows up"),
            ],
            anchors=[
                Anchor(track="ic", proficiency=3, text="Adapts tone unprompted."),
                Anchor(track="manager", proficiency=3, text="Coaches tone:\n- in reviews\n"),
            ],
            standard_term="Customer Orientation",
        ),
        Competency(
            key="coaching", name="Coaching", kind="leadership", nature="behavioural", family="x"
        ),
    ],
    roles=[
        RoleProfile(
            key="associate",
            name="Support Associate",
            family="support",
            track="ic",
            level="CS1",
            requirements=[
                Requirement(competency="empathy", target=2, behaviours=["Thanks them", "日本語"]),
                Requirement(competency="coaching", origin="push"),
            ],
        )
    ],
    rules=[
        DeploymentRule(key="empathy-for-all", scope="core", competency="empathy", target=2),
        DeploymentRule(
            key="coaching-up", scope="level", competency="coaching", from_grade=3, track="manager"
        ),
    ],
)


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_export_then_import_gives_the_same_framework(fmt):
    text = native.dump(SUPPORT, "support", fmt)
    result = native.load(text, f"anything.{fmt}")
    assert result.issues == []
    assert result.framework == SUPPORT
    assert (result.framework_id, result.format, result.source) == (
        "support",
        "native",
        f"anything.{fmt}",
    )


def test_yaml_is_block_style_in_field_order_with_unicode_and_readable_text():
    text = native.dump(SUPPORT, "support", "yaml")
    assert text.startswith(
        "format: talentledger.framework/1\nid: support\nname: Support & Success\n"
        "description: |\n  How we grow people who help customers.\n  Reviewed every spring.\n"
        "scale: 1..5\n"
    )
    assert "      - kind: ic\n        levels:\n          - code: CS1\n" in text
    assert "日本語" in text
    assert "—" in text
    assert "{" not in text
    # defaults are left out: loading restores them
    assert "origin: role" not in text
    assert "tier: null" not in text
    assert "origin: push" in text


def test_json_keeps_unicode_and_key_order():
    text = native.dump(SUPPORT, "support", "json")
    assert list(json.loads(text))[:4] == ["format", "id", "name", "description"]
    assert "日本語" in text
    assert text.endswith("}\n")


def test_the_format_follows_the_file_name_unless_given():
    text = native.dump(SUPPORT, "support", "json")
    assert native.load(text, "support.JSON").framework == SUPPORT
    assert native.load(text, "support.txt", fmt="json").framework == SUPPORT


def test_without_an_id_the_file_name_suggests_one():
    text = native.dump(SUPPORT, "support", "yaml").replace("id: support\n", "")
    result = native.load(text, "exports/Support Ladder.yaml")
    assert (result.framework_id, result.framework) == ("support-ladder", SUPPORT)


def test_a_byte_order_mark_is_ignored():
    text = "\ufeff" + native.dump(SUPPORT, "support", "json")
    assert native.load(text, "support.json").framework == SUPPORT


YAML = """\
format: talentledger.framework/1
id: support
name: Customer Support
families:
  - key: support
    name: Customer Support
    tracks:
      - kind: ic
        levels:
          - code: S1
            name: Associate
            grade: 3
          - code: S2
            name: Specialist
            grade: 4
"""


def edit(old: str, new: str) -> str:
    assert old in YAML
    return YAML.replace(old, new)


LEVEL_2 = "families[0].tracks[0].levels[1]"


@pytest.mark.parametrize(
    ("text", "line", "field", "message"),
    [
        pytest.param(
            edit("grade: 4", "grade: four"),
            15,
            f"{LEVEL_2}.grade",
            "Input should be a valid integer, unable to parse string as an integer (found 'four')",
            id="bad grade type",
        ),
        pytest.param(
            edit("grade: 4", "grade: 51"),
            15,
            f"{LEVEL_2}.grade",
            "Input should be less than or equal to 50 (found 51)",
            id="grade out of range",
        ),
        pytest.param(
            edit("name: Specialist\n", "name: Specialist\n            colour: teal\n"),
            15,
            f"{LEVEL_2}.colour",
            "unknown field 'colour'; allowed here: code, name, grade, tier, descriptor",
            id="unknown field",
        ),
        pytest.param(
            edit("name: Customer Support\nfamilies", "name: Customer Support\nteam: x\nfamilies"),
            4,
            "team",
            "unknown field 'team'; allowed here: format, id, name, description, scale, "
            "granularity, taxonomy, categories, families, lateral_paths, competencies, "
            "roles, rules",
            id="unknown top-level field",
        ),
        pytest.param(
            edit("kind: ic", "kind: lead"),
            8,
            "families[0].tracks[0].kind",
            "Input should be 'ic' or 'manager' (found 'lead')",
            id="unknown track kind",
        ),
        pytest.param(
            edit("- code: S2\n            name", "- name"),
            13,
            f"{LEVEL_2}.code",
            "required, but missing",
            id="missing field",
        ),
        pytest.param(
            edit("key: support", "key: Support Desk"),
            5,
            "families[0].key",
            "a key is lower-case letters, digits, '.', '_' or '-', starting with a letter or "
            "digit (found 'Support Desk')",
            id="bad key",
        ),
        pytest.param(
            edit("id: support", "id: Support Desk"),
            2,
            "id",
            "a key is lower-case letters, digits, '.', '_' or '-', starting with a letter or "
            "digit (found 'Support Desk')",
            id="bad id",
        ),
        pytest.param(
            edit("name: Associate", "name: Associate: first level"),
            11,
            None,
            # libyaml's wording ("... in this context") or pure PyYAML's ("... here")
            "YAML syntax: mapping values are not allowed",
            id="YAML syntax error",
        ),
        pytest.param(
            YAML + "---\nname: second\n",
            16,
            None,
            "YAML syntax: expected a single document in the stream; but found another document",
            id="two YAML documents",
        ),
        pytest.param(
            "- a list\n- of things\n",
            1,
            None,
            "a framework file is a mapping starting with `format: talentledger.framework/1`; "
            "found a list",
            id="not a mapping",
        ),
        pytest.param(
            "",
            1,
            None,
            "a framework file is a mapping starting with `format: talentledger.framework/1`; "
            "found nothing",
            id="empty file",
        ),
        pytest.param(
            edit("framework/1", "framework/2"),
            1,
            "format",
            "unsupported format 'talentledger.framework/2': this reader takes "
            "`format: talentledger.framework/1`",
            id="wrong format marker",
        ),
        pytest.param(
            YAML.split("\n", 1)[1],
            1,
            "format",
            "not marked as a framework file: add `format: talentledger.framework/1` as the first "
            "line",
            id="no format marker",
        ),
    ],
)
def test_a_yaml_error_names_line_field_and_fix(text, line, field, message):
    result = native.load(text, "support.yaml")
    assert result.framework is None
    [issue] = result.issues
    assert (issue.file, issue.line, issue.field, issue.severity) == (
        "support.yaml",
        line,
        field,
        "error",
    )
    assert issue.message.startswith(message)


def as_json(text: str) -> str:
    return json.dumps(yaml.safe_load(text), indent=2)


def line_of(text: str, fragment: str) -> int:
    return text[: text.index(fragment)].count("\n") + 1


def test_a_json_validation_error_names_the_line_of_the_field():
    text = as_json(edit("grade: 4", "grade: four"))
    [issue] = native.load(text, "support.json").issues
    assert (issue.line, issue.field) == (line_of(text, '"grade": "four"'), f"{LEVEL_2}.grade")


def test_a_json_syntax_error_names_its_line():
    text = as_json(YAML).replace('"Specialist",', '"Specialist"')
    [issue] = native.load(text, "support.json").issues
    assert (issue.line, issue.field) == (line_of(text, '"Specialist"') + 1, None)
    assert issue.message == "JSON syntax: Expecting ',' delimiter"


def test_all_validation_errors_are_reported_at_once():
    text = edit("grade: 4", "grade: four").replace("kind: ic", "kind: lead")
    result = native.load(text, "support.yaml")
    assert [(i.line, i.field) for i in result.issues] == [
        (8, "families[0].tracks[0].kind"),
        (15, f"{LEVEL_2}.grade"),
    ]
    assert str(result.issues[0]) == (
        "support.yaml:8: error: families[0].tracks[0].kind: Input should be 'ic' or 'manager' "
        "(found 'lead')"
    )


def test_the_published_schema_is_the_generated_one():
    committed = (ROOT / "docs" / "framework.schema.json").read_text(encoding="utf-8")
    assert committed == native.schema_text(), f"stale schema; regenerate with: {REGENERATE}"


def test_the_schema_describes_the_file():
    schema = native.json_schema()
    assert schema["$id"] == native.SCHEMA_ID
    assert schema["required"] == ["format", "name"]
    assert schema["properties"]["format"]["const"] == native.FORMAT
    assert list(schema["properties"])[:3] == ["format", "id", "name"]
    assert schema["additionalProperties"] is False


def test_the_documented_examples_are_what_export_writes():
    doc = (ROOT / "docs" / "framework-format.md").read_text(encoding="utf-8")
    yaml_example, csv_example = (
        re.findall(f"```{fence}\n(.*?)```", doc, re.DOTALL)[0] for fence in ("yaml", "csv")
    )
    result = native.load(yaml_example, "customer-support.yaml")
    assert result.issues == []
    assert result.framework is not None
    assert native.dump(result.framework, result.framework_id, "yaml") == yaml_example
    assert grid_csv.dump(result.framework).replace("\r\n", "\n") == csv_example


def test_the_documented_example_of_a_policy_and_family_wording_is_what_export_writes():
    doc = (ROOT / "docs" / "framework-format.md").read_text(encoding="utf-8")
    example = re.findall("```yaml\n(.*?)```", doc, re.DOTALL)[1]
    result = native.load(example, "product.yaml")
    assert result.issues == []
    assert result.framework is not None
    assert native.dump(result.framework, result.framework_id, "yaml") == example
    found = {p.rule for p in validate(result.framework)}
    assert not found & {"tracks", "crossover", "ic-track-height", "anchors", "references"}, (
        "the cross-family crossover and the family's anchor are sound"
    )
    assert "policy" in found


def test_a_self_referencing_yaml_file_is_an_issue_not_a_crash():
    text = "format: talentledger.framework/1\nname: Loop\ndescription: &loop [*loop]\n"
    [issue] = native.load(text, "loop.yaml").issues
    assert (issue.line, issue.severity) == (3, "error")
    assert "aliases are not supported" in issue.message


def test_nested_aliases_are_refused_before_they_expand():
    """A few hundred bytes of nested aliases would expand to billions of values."""
    rows = ["format: talentledger.framework/1", 'a0: &a0 ["x", "x", "x", "x", "x", "x", "x"]']
    rows += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 7)}]" for n in range(1, 12)]
    [issue] = native.load("\n".join(rows) + "\n", "bomb.yaml").issues
    assert issue.line == 2, "where the repeated value is anchored"
    assert "aliases are not supported" in issue.message


def test_a_sub_skill_anchor_error_names_its_line_and_field():
    text = YAML + (
        "competencies:\n"
        "  - key: empathy\n"
        "    name: Empathy\n"
        "    kind: core\n"
        "    nature: behavioural\n"
        "    sub_skills:\n"
        "      - key: names-feelings\n"
        "        name: Names the frustration first\n"
        "        anchors:\n"
        "          - track: lead\n"
        "            proficiency: 2\n"
        "            text: Names it when asked.\n"
    )
    [issue] = native.load(text, "support.yaml").issues
    assert (issue.line, issue.field) == (25, "competencies[0].sub_skills[0].anchors[0].track")
    assert issue.message == "Input should be 'ic' or 'manager' (found 'lead')"
