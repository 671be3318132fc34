"""The framework as a CSV grid, for people who keep their framework in a spreadsheet.

docs/domain.md §2, "the grid": one row per cell, that is per (role profile, requirement),
with the facts of the family, level, role and competency repeated on every row:

    family, family_name, track, level, level_name, grade, tier, role, role_name,
    competency, competency_name, category, kind, nature, target, behaviours, anchor,
    family_anchor, sub_skill, sub_skill_name, granularity, scale

`behaviours` holds one behaviour per line (a quoted multi-line cell); `anchor` is the
competency's behavioural anchor for the row's track at the row's target, and `family_anchor`
the row's family's own wording of it, where the family has one (the column is written only when
a cell shows such an anchor). Three other kinds of row
keep what has no cell: a level without roles (level columns only), a role without requirements
(no competency), a competency no role requires (competency columns only). Sub-skill rows come
last: one per anchor of a sub-skill (its track, proficiency in `target`, text in `anchor`, or
in `family_anchor` with the family in `family`), one for a sub-skill without anchors, with the
competency's columns and `sub_skill`, `sub_skill_name`; no role. Those two columns are written
only when the framework has sub-skills. `granularity` and `scale` are the framework's, on every
row (on a row of their own when there is no other), each written only when it is not the
default (`competency`, `0..5`): a grid without them reads as assessed per competency on 0..5.

Reading: things appear in the order of their first row. A family, level or competency is
defined by a row giving any of its facts (name, grade, tier; name, category, kind, nature); a
blank fact says nothing, and two rows giving different values for one fact are an error naming
both lines. A role's family, track and level are read as written, blank included. A category is
named in the cell; its key is the slug of its name. Rows pointing at an undefined family, level
or competency stay references (dangling ones are for the publication rules to report).

What the grid holds: `load(dump(f)).framework == f` exactly when `f`
- has the default description and taxonomy, and no lateral paths nor rules
  (the framework's name is not in the grid either: pass it to `load`);
- has families without description, tracks without crossover, levels without descriptor;
- has the default policy;
- has competencies without family, description nor standard term, whose anchors are
  exactly those the grid shows (common ones per track and target of a requirement of a role on
  that track, a family's own per family, track and target of a requirement of a role of that
  family), in the order of the rows that show them, a common anchor before the family's own
  on the same row;
- has sub-skills with unique keys within their competency, each with at most one anchor per
  track, proficiency and family (of two, the grid writes the one a role reads, the last);
- has only categories used by a competency, keyed by the slug of their name, in the order of
  first use, and no competency in a category that does not exist;
- has requirements of origin "role" only;
- is in grid order: roles grouped by family, track and level in that order (roles at a level
  that does not exist last), competencies in the order of first requirement (unrequired ones
  last);
- has unique keys in every list (family tracks unique by kind, track levels by code): the grid
  identifies things by key.
Cells a spreadsheet would run as formulas (starting with `=`, `+`, `-`, `@`, a tab or a
carriage return) are written with an apostrophe in front, which reading removes
(`libs.platform.spreadsheets`): the text round-trips.
For any framework with unique keys, `dump(load(dump(f)).framework) == dump(f)`.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from pydantic import ValidationError

from libs.events.schemas.framework import Framework, RoleProfile, SubSkill
from libs.platform import spreadsheets
from libs.platform.spreadsheets import restore
from services.framework.adapters.files.native import Loc, nearest, validation_issues
from services.framework.adapters.files.report import (
    ImportIssue,
    ImportResult,
    slug,
)

COLUMNS = (
    "family",
    "family_name",
    "track",
    "level",
    "level_name",
    "grade",
    "tier",
    "role",
    "role_name",
    "competency",
    "competency_name",
    "category",
    "kind",
    "nature",
    "target",
    "behaviours",
    "anchor",
    "family_anchor",
    "sub_skill",
    "sub_skill_name",
    "granularity",
    "scale",
)
# written only when some row fills them, so a grid without them reads as it always has
ELIDED = ("family_anchor", "sub_skill", "sub_skill_name", "granularity", "scale")
OPTIONAL = ("tier", "category", "behaviours", "anchor", *ELIDED)
CELL = ("target", "behaviours", "anchor", "family_anchor")
REQUIRED = tuple(column for column in COLUMNS if column not in OPTIONAL)
# keys, enumerations and numbers cannot hold spaces: stray ones from spreadsheets are dropped
_TRIMMED = frozenset(
    (
        "family",
        "track",
        "tier",
        "role",
        "competency",
        "kind",
        "nature",
        "grade",
        "target",
        "sub_skill",
        "granularity",
        "scale",
    )
)

# model field -> grid column, per kind of thing the rows describe
_FRAMEWORK = {"granularity": "granularity", "scale": "scale"}
_FAMILY = {"key": "family", "name": "family_name"}
_TRACK = {"kind": "track"}
_LEVEL = {"code": "level", "name": "level_name", "grade": "grade", "tier": "tier"}
_ROLE = {"key": "role", "name": "role_name", "family": "family", "track": "track", "level": "level"}
_COMPETENCY = {
    "key": "competency",
    "name": "competency_name",
    "category": "category",
    "kind": "kind",
    "nature": "nature",
}
_SUB_SKILL = {"key": "sub_skill", "name": "sub_skill_name"}
_REQUIREMENT = {"competency": "competency", "target": "target", "behaviours": "behaviours"}
_ANCHOR = {"track": "track", "proficiency": "target", "text": "anchor"}
_FAMILY_ANCHOR = {**_ANCHOR, "text": "family_anchor", "family": "family"}


# -- writing -------------------------------------------------------------------------------


def dump(framework: Framework) -> str:
    """The grid of `framework`, header first; see the module docstring for what it leaves out."""
    out = io.StringIO()
    # csv's default "\r\n" row end makes it quote any cell holding "\r" or "\n"; cells a
    # spreadsheet would run as formulas get an apostrophe, which reading removes
    writer = spreadsheets.writer(out)
    rows = [row + [""] * (len(COLUMNS) - len(row)) for row in _rows(framework)]
    # the framework's own facts are on every row, as a family's are on each of its rows (a
    # framework without rows gets one for them)
    if settings := _settings(framework):
        rows = rows or [[""] * len(COLUMNS)]
        for row in rows:
            for column, value in settings.items():
                row[COLUMNS.index(column)] = value
    shown = [
        i for i, column in enumerate(COLUMNS) if column not in ELIDED or any(row[i] for row in rows)
    ]
    writer.writerow([COLUMNS[i] for i in shown])
    writer.writerows([row[i] for i in shown] for row in rows)
    return out.getvalue()


def _settings(framework: Framework) -> dict[str, str]:
    """The framework's own facts the grid holds, by column: those that depart from the
    default (a blank cell reads as the default)."""
    held = {
        column: getattr(framework, name)
        for name, column in _FRAMEWORK.items()
        if getattr(framework, name) != Framework.model_fields[name].default
    }
    return {column: str(value) for column, value in held.items()}


def _rows(framework: Framework) -> Iterator[list[str]]:
    cells = list(_cells(framework))
    yield from cells
    # sub-skills last, in the order their competencies are read back: that of their first row
    competency = COLUMNS.index("competency")
    for key in dict.fromkeys(row[competency] for row in cells if len(row) > competency):
        if (found := framework.competency(key)) is not None:
            for skill in found.sub_skills:
                yield from _sub_skill_rows(framework, key, skill)


def _cells(framework: Framework) -> Iterator[list[str]]:
    """The rows of cells, and of the levels, roles and competencies that have none."""
    levels: set[tuple[str, str, str]] = set()
    for family in framework.families:
        for track in family.tracks:
            for level in track.levels:
                spot = (family.key, track.kind, level.code)
                levels.add(spot)
                where = [family.key, family.name, track.kind, level.code, level.name]
                where += [str(level.grade), level.tier or ""]
                roles = [r for r in framework.roles if (r.family, r.track, r.level) == spot]
                if not roles:
                    yield where
                for role in roles:
                    yield from _role_rows(framework, where, role)
    for role in framework.roles:
        if (role.family, role.track, role.level) not in levels:
            family = framework.family(role.family)
            where = [role.family, family.name if family else "", role.track, role.level, "", "", ""]
            yield from _role_rows(framework, where, role)
    required = {r.competency for role in framework.roles for r in role.requirements}
    for competency in framework.competencies:
        if competency.key not in required:
            yield [*[""] * 9, *_competency_cells(framework, competency.key)]


def _sub_skill_rows(framework: Framework, competency: str, skill: SubSkill) -> Iterator[list[str]]:
    """One row per anchor of the sub-skill (one row when it has none): the anchor a role reads
    where two share a track, proficiency and family."""
    head = _competency_cells(framework, competency)
    placed = {(a.track, a.proficiency, a.family): a for a in skill.anchors}
    if not placed:
        yield [*[""] * 9, *head, "", "", "", "", skill.key, skill.name]
    for anchor in placed.values():
        common, own = ("", anchor.text) if anchor.family else (anchor.text, "")
        where = [anchor.family or "", "", anchor.track, *[""] * 6]
        yield [*where, *head, str(anchor.proficiency), "", common, own, skill.key, skill.name]


def _role_rows(framework: Framework, where: list[str], role: RoleProfile) -> Iterator[list[str]]:
    head = [*where, role.key, role.name]
    if not role.requirements:
        yield head
    for requirement in role.requirements:
        competency = framework.competency(requirement.competency)
        target = requirement.target
        common = own = None
        if competency is not None and target is not None:
            common = competency.anchor(role.track, target)
            own = competency.anchor(role.track, target, role.family)
        yield [
            *head,
            *_competency_cells(framework, requirement.competency),
            "" if target is None else str(target),
            "\n".join(requirement.behaviours),
            common.text if common else "",
            own.text if own and own.family else "",
        ]


def _competency_cells(framework: Framework, key: str) -> list[str]:
    competency = framework.competency(key)
    if competency is None:
        return [key, "", "", "", ""]
    category = competency.category
    if category is not None:
        known = next((c for c in framework.categories if c.key == category), None)
        category = known.name if known else category
    return [key, competency.name, category or "", competency.kind, competency.nature]


# -- reading -------------------------------------------------------------------------------


@dataclass
class _Thing:
    """Something the rows describe: its facts, and the line and column each one came from."""

    what: str
    columns: dict[str, str]
    line: int
    facts: dict[str, Any]
    spots: dict[str, tuple[int, str]] = field(init=False)

    def __post_init__(self) -> None:
        # a fact no row gives is reported at the thing's first row, in the column it belongs in
        self.spots = {name: (self.line, column) for name, column in self.columns.items()}


class _Reader:
    """Collects the things the rows describe, in order of first appearance, and the problems."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.issues: list[ImportIssue] = []
        # the framework's own facts, from the first row giving one
        self.framework: _Thing | None = None
        self.families: dict[str, _Thing] = {}
        self.tracks: dict[tuple[str, str], _Thing] = {}
        self.levels: dict[tuple[str, str, str], _Thing] = {}
        self.competencies: dict[str, _Thing] = {}
        # by (competency, track, target), and a family's own by (..., family)
        self.anchors: dict[tuple[str, ...], _Thing] = {}
        self.sub_skills: dict[tuple[str, str], _Thing] = {}
        # by (competency, sub-skill, track, target), and a family's own by (..., family)
        self.sub_skill_anchors: dict[tuple[str, ...], _Thing] = {}
        self.roles: dict[str, _Thing] = {}
        self.requirements: dict[str, list[_Thing]] = {}

    def issue(
        self, line: int | None, column: str | None, message: str, warning: bool = False
    ) -> None:
        severity = "warning" if warning else "error"
        self.issues.append(
            ImportIssue(file=self.file, line=line, field=column, severity=severity, message=message)
        )

    def read(self, text: str) -> bool:
        """Read every row; False when the header does not allow reading them."""
        rows = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
        try:
            header = [cell.strip().lower() for cell in next(rows, [])]
            if not self._header_ok(header):
                return False
            index = {column: header.index(column) for column in COLUMNS if column in header}
            start = rows.line_num + 1
            for cells in rows:
                # a row starts on the line after the previous one ended: cells may span lines
                line, start = start, rows.line_num + 1
                if any(cell.strip() for cell in cells[len(header) :]):
                    self.issue(line, None, "cells right of the last column ignored", warning=True)
                padded = cells + [""] * len(header)
                row = {
                    column: padded[index[column]] if column in index else "" for column in COLUMNS
                }
                row = {
                    column: restore(v.strip() if column in _TRIMMED else v)
                    for column, v in row.items()
                }
                if any(row.values()):
                    self._add(row, line)
        except csv.Error as error:
            self.issue(rows.line_num, None, f"not readable as CSV: {error}")
        return True

    def _header_ok(self, header: list[str]) -> bool:
        if missing := [column for column in REQUIRED if column not in header]:
            self.issue(
                1,
                None,
                f"missing required columns: {', '.join(missing)}; a grid has the columns "
                f"{', '.join(COLUMNS)} (any order; {', '.join(OPTIONAL)} may be left out)",
            )
            return False
        repeated = [column for column in dict.fromkeys(header) if header.count(column) > 1]
        for column in repeated:
            self.issue(1, column, "the column appears more than once: keep one")
        for column in dict.fromkeys(header):
            if column not in COLUMNS:
                self.issue(1, column, "unknown column, ignored", warning=True)
        return not repeated

    def _thing(
        self,
        things: dict[Any, _Thing],
        key: Any,
        line: int,
        columns: dict[str, str],
        what: str,
        identity: dict[str, Any],
    ) -> _Thing:
        if key not in things:
            things[key] = _Thing(what, columns, line, dict(identity))
        return things[key]

    def _state(self, thing: _Thing, name: str, value: Any, line: int) -> None:
        """Record a fact; another value for it on another row is a conflict."""
        column = thing.columns[name]
        if name not in thing.facts:
            thing.facts[name] = value
            thing.spots[name] = (line, column)
        elif thing.facts[name] != value:
            earlier = thing.spots[name][0]
            self.issue(
                line,
                column,
                f"{thing.what} has {column} {value!r} here but {thing.facts[name]!r} on line "
                f"{earlier}: give one value",
            )

    def _add(self, row: dict[str, str], line: int) -> None:
        if settings := {n: row[c] for n, c in _FRAMEWORK.items() if row[c]}:
            if self.framework is None:
                self.framework = _Thing("the framework", _FRAMEWORK, line, {})
            for name, value in settings.items():
                self._state(self.framework, name, value, line)
        family, track, level = row["family"], row["track"], row["level"]
        role, competency = row["role"], row["competency"]
        level_facts = {n: row[_LEVEL[n]] for n in ("name", "grade", "tier") if row[_LEVEL[n]]}
        if row["family_name"] or level_facts:
            what = f"family {family!r}"
            found = self._thing(self.families, family, line, _FAMILY, what, {"key": family})
            if row["family_name"]:
                self._state(found, "name", row["family_name"], line)
        if level_facts:
            what = f"track {track!r} of {family!r}"
            self._thing(self.tracks, (family, track), line, _TRACK, what, {"kind": track})
            what = f"level {level!r} of {family}/{track}"
            found = self._thing(
                self.levels, (family, track, level), line, _LEVEL, what, {"code": level}
            )
            for name, value in level_facts.items():
                self._state(found, name, value, line)
        if role or row["role_name"]:
            found = self._thing(self.roles, role, line, _ROLE, f"role {role!r}", {"key": role})
            for name in ("family", "track", "level"):
                self._state(found, name, row[name], line)  # blank is a value: "no level"
            if row["role_name"]:
                self._state(found, "name", row["role_name"], line)
        names = ("name", "category", "kind", "nature")
        if competency_facts := {n: row[_COMPETENCY[n]] for n in names if row[_COMPETENCY[n]]}:
            what, identity = f"competency {competency!r}", {"key": competency}
            found = self._thing(self.competencies, competency, line, _COMPETENCY, what, identity)
            for name, value in competency_facts.items():
                self._state(found, name, value, line)
        if row["sub_skill"] or row["sub_skill_name"]:
            self._add_sub_skill(row, line)
        elif role and competency:
            self._add_cell(row, line)
        elif cell := [column for column in CELL if row[column]]:
            message = (
                "a target, behaviours or an anchor belong to a cell: give a role and a competency"
            )
            self.issue(line, cell[0], message)

    def _add_cell(self, row: dict[str, str], line: int) -> None:
        competency, target = row["competency"], row["target"]
        requirement = _Thing("requirement", _REQUIREMENT, line, {"competency": competency})
        if target:
            self._state(requirement, "target", target, line)
        if row["behaviours"]:
            lines = row["behaviours"].replace("\r\n", "\n").replace("\r", "\n").split("\n")
            behaviours = [b for b in lines if b]  # a blank line separates, it is no behaviour
            self._state(requirement, "behaviours", behaviours, line)
        self.requirements.setdefault(row["role"], []).append(requirement)
        self._add_anchors(row, line, (competency,), repr(competency), self.anchors)

    def _add_sub_skill(self, row: dict[str, str], line: int) -> None:
        """A sub-skill row: the sub-skill, and the anchor it gives at the row's track and
        target (for the row's family, in family_anchor)."""
        competency, skill = row["competency"], row["sub_skill"]
        if row["role"] or row["role_name"]:
            message = "a sub-skill row describes a sub-skill, in no role: leave the role blank"
            self.issue(line, "role", message)
        if not competency:
            message = "a sub-skill belongs to a competency: give the competency's key"
            self.issue(line, "sub_skill", message)
            return
        if row["behaviours"]:
            self.issue(line, "behaviours", "behaviours belong to a cell, not to a sub-skill")
        if row["target"] and not (row["anchor"] or row["family_anchor"]):
            message = "on a sub-skill row, the target is the proficiency of its anchor: give it"
            self.issue(line, "target", message)
        what = f"sub-skill '{competency}/{skill}'"
        found = self._thing(
            self.sub_skills, (competency, skill), line, _SUB_SKILL, what, {"key": skill}
        )
        if row["sub_skill_name"]:
            self._state(found, "name", row["sub_skill_name"], line)
        of = f"'{competency}/{skill}'"
        self._add_anchors(row, line, (competency, skill), of, self.sub_skill_anchors)

    def _add_anchors(
        self,
        row: dict[str, str],
        line: int,
        owner: tuple[str, ...],
        of: str,
        anchors: dict[tuple[str, ...], _Thing],
    ) -> None:
        """The row's anchor and its family's own, for the competency or sub-skill `owner`."""
        family, track, target = row["family"], row["track"], row["target"]
        for column, columns, own in (
            ("anchor", _ANCHOR, ()),
            ("family_anchor", _FAMILY_ANCHOR, (family,)),
        ):
            if not row[column]:
                continue
            if not target:
                self.issue(
                    line, column, "an anchor describes a target proficiency: give the target"
                )
                continue
            whose = f"{family}'s own " if own else ""
            what = f"{whose}{track} anchor of {of} at {target}"
            identity = {
                "track": track,
                "proficiency": target,
                **({"family": family} if own else {}),
            }
            key = (*owner, track, target, *own)
            found = self._thing(anchors, key, line, columns, what, identity)
            self._state(found, "text", row[column], line)

    def document(self, name: str) -> tuple[dict[str, Any], dict[Loc, tuple[int | None, str]]]:
        """The framework as data for the model, and the row and column of each of its fields."""
        spots: dict[Loc, tuple[int | None, str]] = {("name",): (None, "name")}

        def place(loc: Loc, thing: _Thing, **members: Any) -> dict[str, Any]:
            spots[loc] = thing.spots[next(iter(thing.columns))]
            spots.update({(*loc, name): spot for name, spot in thing.spots.items()})
            return {**thing.facts, **members}

        # each thing's parts, grouped in one pass: looking them up per owner is then linear
        tracks_of, levels_of = _by_owner(self.tracks, 1), _by_owner(self.levels, 2)
        anchors_of, skills_of = _by_owner(self.anchors, 1), _by_owner(self.sub_skills, 1)
        skill_anchors_of = _by_owner(self.sub_skill_anchors, 2)
        families = []
        for f, (family, found) in enumerate(self.families.items()):
            tracks = []
            for t, ((_, kind), track) in enumerate(tracks_of.get((family,), [])):
                loc: Loc = ("families", f, "tracks", t)
                levels = [
                    place((*loc, "levels", i), level)
                    for i, (_, level) in enumerate(levels_of.get((family, kind), []))
                ]
                tracks.append(place(loc, track, levels=levels))
            families.append(place(("families", f), found, tracks=tracks))

        categories: dict[str, dict[str, str]] = {}
        competencies = []
        for c, (competency, found) in enumerate(self.competencies.items()):
            loc = ("competencies", c)
            anchors = [
                place((*loc, "anchors", i), anchor)
                for i, (_, anchor) in enumerate(anchors_of.get((competency,), []))
            ]
            skills = []
            for s, (key, skill) in enumerate(skills_of.get((competency,), [])):
                own = [
                    place((*loc, "sub_skills", s, "anchors", i), anchor)
                    for i, (_, anchor) in enumerate(skill_anchors_of.get(key, []))
                ]
                skills.append(place((*loc, "sub_skills", s), skill, anchors=own))
            facts = place(loc, found, anchors=anchors, sub_skills=skills)
            if (named := facts.get("category")) is not None:
                if named not in categories:
                    spots[("categories", len(categories))] = found.spots["category"]
                    taken = {category["key"] for category in categories.values()}
                    categories[named] = {"key": _new_key(named, taken), "name": named}
                facts["category"] = categories[named]["key"]
            competencies.append(facts)
        for (competency, *_), anchor in self.anchors.items():
            if competency not in self.competencies:
                self.issue(
                    anchor.line,
                    "anchor",
                    f"competency {competency!r} has an anchor but no definition: "
                    "give its competency_name, kind and nature",
                )
        for (competency, _), skill in self.sub_skills.items():
            if competency not in self.competencies:
                self.issue(
                    skill.line,
                    "sub_skill",
                    f"competency {competency!r} has a sub-skill but no definition: "
                    "give its competency_name, kind and nature",
                )

        roles = []
        for r, (role, found) in enumerate(self.roles.items()):
            requirements = [
                place(("roles", r, "requirements", i), requirement)
                for i, requirement in enumerate(self.requirements.get(role, []))
            ]
            roles.append(place(("roles", r), found, requirements=requirements))
        settings: dict[str, Any] = {}
        if self.framework is not None:
            settings = self.framework.facts
            spots.update({(n,): spot for n, spot in self.framework.spots.items()})
        data = {
            "name": name,
            **settings,
            "categories": list(categories.values()),
            "families": families,
            "competencies": competencies,
            "roles": roles,
        }
        return data, spots


def _by_owner(
    things: dict[Any, _Thing], length: int
) -> dict[tuple[str, ...], list[tuple[Any, _Thing]]]:
    """The things by the first `length` parts of their key (their owner: a family, a
    competency, a sub-skill), each owner's in order."""
    owned: dict[tuple[str, ...], list[tuple[Any, _Thing]]] = {}
    for key, thing in things.items():
        owned.setdefault(tuple(key[:length]), []).append((key, thing))
    return owned


def _new_key(name: str, taken: set[str]) -> str:
    """A category key: the slug of its name, numbered when another name has the same slug."""
    base = key = slug(name, fallback="category")
    number = 1
    while key in taken:
        number += 1
        key = f"{base[: 80 - len(str(number)) - 1]}-{number}"
    return key


def _name_from(file: str) -> str:
    """'engineering_ladder.csv' -> 'Engineering ladder'."""
    words = re.sub(r"[\s_-]+", " ", PurePath(file).stem).strip()
    return words[:1].upper() + words[1:] if words else "Framework"


def load(text: str, file: str, name: str | None = None) -> ImportResult:
    """Read a grid; `name` is the framework's name, by default made from the file name.

    Any error leaves `framework` None; every issue names the line and the column.
    """
    name = _name_from(file) if name is None else name
    reader = _Reader(file)
    framework = None
    if reader.read(text):
        data, spots = reader.document(name)
        try:
            framework = Framework.model_validate(data)
        except ValidationError as invalid:
            located = validation_issues(
                invalid, file, lambda loc: nearest(spots, loc) or (None, None)
            )
            reader.issues += located
    issues = reader.issues
    failed = any(issue.severity == "error" for issue in issues)
    return ImportResult(
        source=file,
        format="csv",
        framework_id=slug(name, fallback="framework"),
        framework=None if failed else framework,
        issues=issues,
    )
