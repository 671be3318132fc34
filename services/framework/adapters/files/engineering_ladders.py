"""Import one page of Engineering Ladders (github.com/jorgef/engineeringladders, Apache-2.0).

The source charts every position on five axes (Technology, System, People, Process,
Influence), each with five ordered stages named by a keyword (Adopts, Specializes, ...). The
stage lists are the format's vocabulary (README "# Levels"), kept here as AXES. Pages come in
four shapes, told apart by their tables; one page -> one `Framework` (docs/domain.md §2):

- ladder page (Developer.md, TechLead.md, ...): a "Level | Senior | Position" table and a
  "## D1 - Developer 1" section per position with one `* **Keyword**: text` bullet per axis.
  One job family (key and name from the H1, description from the text under it), one track:
  "manager" for people-manager ladders (MANAGER_LADDERS), else "ic"; no level says it is
  director level, so tiers keep their track's default. Levels from the table and the
  sections: code "D1", name "Developer 1", grade the number in the Level column. The five axes
  are the family's functional competencies (on a manager ladder the People axis is about
  managing people, so it is a leadership competency); nature: Technology and System technical,
  the others behavioural. One role profile per position: per axis, the bullet
  "Keyword: text" is the behaviour and the keyword's stage (1..5) the target, on a 1..5 scale.
  Each stage's bullet is also that axis's anchor on the ladder's track, so targets are anchored
  with the source's own sentences. A bullet's keyword names its axis; an unknown keyword falls
  back to the bullet's position, without a target.
- overview (README.md): a ladder table whose columns are the ladders. Each column is a family
  with the levels the table gives it (code from the cell, name "<ladder> <level>"); the five
  axes, with their "# Levels" stages as IC-track anchors, proficiency = the stage number, are
  core competencies (every ladder is charted on them). It has no role profiles.
- balance page (Managing-Managers.md): no levels, so no track or role profiles; "## Area"
  sections, each with a two-column table of forces a manager of managers keeps in balance. Each
  area is a behavioural leadership competency described by its text; the tables have no place
  in the model and are reported.
- comparison page (TechLead-EngineeringManager.md): one two-column table of responsibilities,
  no levels and no behaviours. An empty framework whose description is the page's text.

The "Senior" column (Yes/No) and explanatory prose have no place in the model and are reported
as warnings; "# Other Pages" is navigation and is skipped.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from libs.events.schemas.framework import (
    MAX_GRADE,
    Anchor,
    Competency,
    CompetencyKind,
    Framework,
    JobFamily,
    Level,
    Nature,
    Requirement,
    RoleProfile,
    Scale,
    Track,
    TrackKind,
)
from services.framework.adapters.files.markdown import (
    ImportLog,
    Line,
    Section,
    Table,
    lines_of,
    list_items,
    numbered_items,
    paragraphs,
    run_import,
    sections,
    tables,
)
from services.framework.adapters.files.report import ImportResult, slug

FORMAT = "engineering-ladders"
SCALE: Scale = "1..5"  # the five stages of every axis


@dataclass(frozen=True)
class Axis:
    key: str
    name: str
    nature: Nature
    stages: tuple[str, ...]  # stage keywords, stage 1 first


AXES = (
    Axis(
        "technology",
        "Technology",
        "technical",
        ("Adopts", "Specializes", "Evangelizes", "Masters", "Creates"),
    ),
    Axis("system", "System", "technical", ("Enhances", "Designs", "Owns", "Evolves", "Leads")),
    Axis(
        "people",
        "People",
        "behavioural",
        ("Learns", "Supports", "Mentors", "Coordinates", "Manages"),
    ),
    Axis(
        "process",
        "Process",
        "behavioural",
        ("Follows", "Enforces", "Challenges", "Adjusts", "Defines"),
    ),
    Axis(
        "influence",
        "Influence",
        "behavioural",
        ("Subsystem", "Team", "Multiple Teams", "Company", "Community"),
    ),
)
_STAGES = {s.lower(): (axis, n) for axis in AXES for n, s in enumerate(axis.stages, start=1)}
# Ladders whose positions manage people (family keys): the others, the Tech Lead and the
# Technical Program Manager included, are individual-contributor ladders in the source.
MANAGER_LADDERS = frozenset({"engineering-manager"})

_NAVIGATION = "other pages"
_STRONG = re.compile(r"^\*\*(?P<key>[^*]+)\*\*\s*:\s*(?P<text>.+)$")
# Neither the text nor the destination of a link holds a bracket, so an attempt that starts
# at one "[" never reads past the next: linear in the cell (a cell of "[" alone was quadratic).
# As in CommonMark, "[a[b](u)" is "[a" and the link "b".
_LINK = re.compile(r"\[(?P<text>[^\[\]]*)\]\([^)\[\]]*\)")
_LADDER_ITEM = re.compile(r"^\[\*\*(?P<name>[^*]+)\*\*\]\([^)]*\)\s*:\s*(?P<text>.+)$")
_POSITION = re.compile(r"^(?P<code>[A-Za-z]+\d+)\s+-\s+(?P<name>.+)$")


_Builder = Callable[[list[Section], Table, ImportLog], Framework]


def load(text: str, file: str) -> ImportResult:
    return run_import(FORMAT, file, lambda log: _framework(text, log))


def _framework(text: str, log: ImportLog) -> Framework:
    lines = lines_of(text)
    _, pages = sections(lines, 1)
    if not pages:
        raise log.fail(1, None, "no '# Title' heading: not an engineering-ladders page")
    shapes: list[tuple[Callable[[Table], bool], _Builder]] = [
        (lambda t: _header(t)[:1] == ["level"] and "position" in _header(t), _ladder),
        (lambda t: _header(t)[:1] == ["level"] and len(t.columns) > 2, _overview),
        (lambda t: len(t.columns) == 2, _balance_or_comparison),
    ]
    found = tables(lines)
    for shape, build in shapes:
        if table := next((t for t in found if shape(t)), None):
            return build(pages, table, log)
    raise log.fail(
        pages[0].line, None, "no level table, ladder table or comparison table: nothing to import"
    )


def _header(table: Table) -> list[str]:
    return [_plain(c).lower() for c in table.columns]


def _plain(cell: str) -> str:
    """A cell's text without link syntax: "[D1](Developer.md#d1)" -> "D1"."""
    return _LINK.sub(lambda m: m.group("text"), cell).strip()


def _grade(cell: str) -> int | None:
    """The number in a Level cell, when it is a grade the model accepts (1..50)."""
    return int(cell) if cell.strip().isdecimal() and 1 <= int(cell) <= 50 else None


def _senior(table: Table, log: ImportLog) -> None:
    if "senior" in _header(table):
        log.warn(table.header.number, "Senior", "the Senior column (Yes/No) is not imported")


def _skip_pages(pages: list[Section], used: set[int], log: ImportLog) -> None:
    for page in pages:
        if page.line not in used and page.title.strip().lower() != _NAVIGATION:
            log.warn(page.line, page.title, "section not imported")


def _ladder(pages: list[Section], table: Table, log: ImportLog) -> Framework:
    page = pages[0]
    family_key = slug(page.title, log.framework_id)
    kind: TrackKind = "manager" if family_key in MANAGER_LADDERS else "ic"
    _skip_pages(pages, {page.line}, log)
    preamble, positions = sections(page.lines, 2)
    _senior(table, log)
    rows: dict[str, tuple[str, int, int]] = {}  # code -> (name, grade, line)
    columns = _header(table)
    for line, cells in table.rows:
        cells = [*cells, *[""] * len(columns)]
        position = _POSITION.match(_plain(cells[columns.index("position")]))
        grade = _grade(cells[columns.index("level")])
        if position is None or grade is None:
            log.warn(line.number, "Level", "row without a level number and 'CODE - Name' position")
            continue
        rows[position["code"]] = (position["name"], grade, line.number)

    levels: list[Level] = []
    requirements: dict[str, list[tuple[Axis, int | None, list[str]]]] = {}
    anchors: dict[tuple[str, int], tuple[str, int]] = {}  # (axis, stage) -> (text, line)
    for section in positions:
        position = _POSITION.match(section.title.strip())
        if position is None:
            log.warn(section.line, section.title, "not a 'CODE - Name' position: not imported")
            continue
        code = position["code"]
        if code not in rows:
            digits = re.search(r"\d+$", code)
            log.warn(section.line, section.title, "not in the level table: grade from its code")
            rows[code] = (position["name"], int(digits.group()) if digits else 1, section.line)
        requirements[code] = _axes(section, anchors, log)
    # Sorted by grade: a position added from its section joins the table's order.
    for code, (name, grade, line) in sorted(rows.items(), key=lambda row: row[1][1]):
        if not 1 <= grade <= MAX_GRADE:
            log.warn(line, code, f"grade {grade} is outside 1..{MAX_GRADE}: not imported")
            requirements.pop(code, None)
            continue
        levels.append(Level(code=code, name=name, grade=grade))
        if code not in requirements:
            log.warn(line, code, "no section for this position: no role profile")
    if not levels:
        raise log.fail(table.header.number, None, "the level table lists no positions")

    return Framework(
        name=page.title,
        scale=SCALE,
        families=[
            JobFamily(
                key=family_key,
                name=page.title,
                description=_text(paragraphs(preamble), log),
                tracks=[Track(kind=kind, levels=levels)],
            )
        ],
        competencies=[
            Competency(
                key=axis.key,
                name=axis.name,
                kind=_kind(axis, kind),
                nature=axis.nature,
                family=family_key if _kind(axis, kind) == "functional" else None,
                anchors=[
                    Anchor(track=kind, proficiency=stage, text=text)
                    for (key, stage), (text, _) in sorted(anchors.items(), key=lambda a: a[0][1])
                    if key == axis.key
                ],
            )
            for axis in AXES
        ],
        roles=[
            RoleProfile(
                key=f"{family_key}-{code.lower()}",
                name=rows[code][0],
                family=family_key,
                track=kind,
                level=code,
                requirements=[
                    Requirement(competency=axis.key, target=stage, behaviours=texts)
                    for axis, stage, texts in sorted(found, key=lambda f: AXES.index(f[0]))
                ],
            )
            for code, found in requirements.items()
        ],
    )


def _kind(axis: Axis, track: TrackKind) -> CompetencyKind:
    """On a manager ladder the People axis is managing people: a leadership competency."""
    return "leadership" if track == "manager" and axis.key == "people" else "functional"


def _axes(
    section: Section, anchors: dict[tuple[str, int], tuple[str, int]], log: ImportLog
) -> list[tuple[Axis, int | None, list[str]]]:
    """A position's bullets by axis: (axis, stage or None, behaviours); records the anchors."""
    found: dict[str, tuple[Axis, int | None, list[str]]] = {}
    for position, item in enumerate(list_items(section.lines)):
        where = f"{section.title}[{position}]"
        match = _STRONG.match(item.text)
        if match is None:
            log.warn(item.number, where, "not a '**Keyword**: text' bullet: not imported")
            continue
        keyword, text = match["key"].strip(), f"{match['key'].strip()}: {match['text'].strip()}"
        axis, stage = _STAGES.get(keyword.lower(), (None, None))
        if axis is None:
            if position >= len(AXES):
                log.warn(item.number, where, f"unknown stage {keyword!r}: not imported")
                continue
            axis = AXES[position]
            log.warn(
                item.number,
                where,
                f"unknown stage {keyword!r}: read as the {axis.name} axis by its position, "
                "without a target",
            )
        if not log.fits(text, item.number, where):
            continue
        if axis.key in found:
            log.warn(
                item.number,
                where,
                f"a second {axis.name} bullet: kept as another behaviour, the first one sets "
                "the target",
            )
            found[axis.key][2].append(text)
            continue
        found[axis.key] = (axis, stage, [text])
        if stage is None:
            continue
        first = anchors.setdefault((axis.key, stage), (text, item.number))
        if first[0] != text:
            log.warn(
                item.number,
                where,
                f"stage {keyword!r} reads differently on line {first[1]}: the anchor keeps "
                f"line {first[1]}",
            )
    for axis in AXES:
        if axis.key not in found:
            log.warn(section.line, section.title, f"no {axis.name} bullet")
    return list(found.values())


def _text(found: list[Line], log: ImportLog) -> str:
    """Paragraphs as one description, when it fits the model."""
    text = "\n\n".join(p.text for p in found)
    return text if not found or log.fits(text, found[0].number, None) else ""


def _overview(pages: list[Section], table: Table, log: ImportLog) -> Framework:
    home = next((p for p in pages if table.header in p.lines), pages[0])
    axes_page = next((p for p in pages if p.title.strip().lower() == "axes"), None)
    stages_page = next((p for p in pages if p.title.strip().lower() == "levels"), None)
    intro = pages[0] if pages[0] is not home else None
    used = {p.line for p in (home, axes_page, stages_page, intro) if p is not None}
    _skip_pages(pages, used, log)
    _senior(table, log)
    for page in (home, axes_page):
        if page is not None and (prose := paragraphs(page.lines)):
            log.warn(
                prose[0].number,
                page.title,
                f"{len(prose)} paragraph(s) of explanatory text not imported",
            )
    ladders = {
        m["name"].strip(): m["text"].strip()
        for item in list_items(home.lines)
        if (m := _LADDER_ITEM.match(item.text))
    }
    header = _header(table)
    level_at = header.index("level")
    families: list[JobFamily] = []
    for column, cell in enumerate(table.columns):
        if header[column] in ("level", "senior"):
            continue
        name = _plain(cell)
        key = slug(name, f"ladder-{column}")
        levels = []
        for line, cells in table.rows:
            cells = [*cells, *[""] * len(header)]
            code, grade = _plain(cells[column]), _grade(cells[level_at])
            if code and grade is None:
                log.warn(line.number, name, f"position {code!r} has no level number: skipped")
            elif code and grade is not None:
                levels.append(Level(code=code, name=f"{name} {grade}", grade=grade))
        if not levels:
            log.warn(table.header.number, name, "a ladder without positions: not imported")
            continue
        kind: TrackKind = "manager" if key in MANAGER_LADDERS else "ic"
        families.append(
            JobFamily(
                key=key,
                name=name,
                description=ladders.get(name, ""),
                tracks=[Track(kind=kind, levels=levels)],
            )
        )
    competencies = _overview_axes(axes_page, stages_page, log)
    log.warn(None, None, "overview page: no role profiles (the behaviours are on the ladder pages)")
    if competencies and any(f.tracks[0].kind == "manager" for f in families):
        log.warn(
            None,
            None,
            "the stages are written once for every ladder: imported as IC-track anchors, so "
            "the manager track has none",
        )
    return Framework(
        name=home.title,
        description=_text(paragraphs(intro.lines) if intro else [], log),
        scale=SCALE,
        families=families,
        competencies=competencies,
    )


def _overview_axes(
    axes_page: Section | None, stages_page: Section | None, log: ImportLog
) -> list[Competency]:
    if axes_page is None:
        log.warn(None, None, "no '# Axes' section: no competencies")
        return []
    _, stage_sections = sections(stages_page.lines, 2) if stages_page else ([], [])
    stage_lists = {s.title.strip().lower(): s for s in stage_sections}
    competencies: list[Competency] = []
    for item in list_items(axes_page.lines):
        match = _STRONG.match(item.text)
        if match is None:
            log.warn(item.number, axes_page.title, "not a '**Axis**: text' item: not imported")
            continue
        name, key = match["key"].strip(), slug(match["key"])
        axis = next((a for a in AXES if a.key == key), None)
        if axis is None:
            log.warn(item.number, name, "unknown axis: nature 'technical' assumed")
        anchors: list[Anchor] = []
        stage_list = stage_lists.get(name.lower())
        if stage_list is None:
            log.warn(item.number, name, "no stage list under '# Levels': no anchors")
        for number, stage in numbered_items(stage_list.lines if stage_list else []):
            strong = _STRONG.match(stage.text)
            text = f"{strong['key'].strip()}: {strong['text'].strip()}" if strong else stage.text
            if not 1 <= number <= 5:
                log.warn(stage.number, name, f"stage {number} is off the 1..5 scale: skipped")
            elif log.fits(text, stage.number, name):
                anchors.append(Anchor(track="ic", proficiency=number, text=text))
        competencies.append(
            Competency(
                key=key,
                name=name,
                description=match["text"].strip(),
                kind="core",
                nature=axis.nature if axis else "technical",
                anchors=anchors,
            )
        )
    return competencies


def _balance_or_comparison(pages: list[Section], table: Table, log: ImportLog) -> Framework:
    page = pages[0]
    _skip_pages(pages, {page.line}, log)
    preamble, areas = sections(page.lines, 2)
    competencies: list[Competency] = []
    for area in areas:
        pair = next((t for t in tables(area.lines) if len(t.columns) == 2), None)
        if pair is None:
            log.warn(area.line, area.title, "section not imported")
            continue
        log.warn(
            pair.header.number,
            area.title,
            f"the table of forces to balance ({_plain(pair.columns[0])} / "
            f"{_plain(pair.columns[1])}) is not imported",
        )
        competencies.append(
            Competency(
                key=slug(area.title),
                name=area.title,
                description=_text(paragraphs(area.lines), log),
                kind="leadership",
                nature="behavioural",
            )
        )
    if competencies:
        log.warn(
            page.line,
            None,
            "no levels: the balance areas are imported as leadership competencies without "
            "role profiles",
        )
    else:
        log.warn(
            table.header.number,
            None,
            "comparison page: no levels or behaviours to map; its table is not imported",
        )
    return Framework(
        name=page.title,
        description=_text(paragraphs(preamble), log),
        scale=SCALE,
        competencies=competencies,
    )
