"""Import one file of Monzo's progression framework (github.com/monzo/progression-framework, MIT).

A Monzo file is markdown with YAML front matter: `path`, `title`, `sidebarTitle`, `levels` (a
count) and `topics`, a list of {name, title, content: [{level, criteria: [text],
exampleCriteria: [{criteria, examples: [text]}]}]}. Files with `yaml: false` (design/*.md) keep
the grid in the markdown body instead: `## Level N` sections holding `### Competency` headings,
each followed by paragraphs.

Mapping, one file -> one `Framework` (docs/domain.md §2):

- identity: `framework_id` is the slug of `path` ("/engineering/backend" ->
  "engineering-backend"); name is `title` without its leading emoji.
- one job family: key from the last segment of `path`, name from `sidebarTitle` (else `title`)
  without emoji; markdown below the front matter of a YAML file is the framework description.
- one track: "manager" when the path or title says "leadership", else "ic".
- levels "L<n>", named "Level <n>", grade n, for each level number the criteria use. The source
  numbers its levels (ops-leadership's five levels are 2..6), so grades keep those numbers rather
  than inventing an empty L1; a `levels` count that disagrees with them is a warning.
- one functional competency of the family per topic: key from the topic name, name from its
  title (else the name, capitalised). People's names read "communication: transparent ...;
  giving ...": the part before the colon is the key and name, the rest the description.
  Nature is not in the source: it is inferred from the name (BEHAVIOURAL_STEMS), with a warning.
- one role profile per level, with one requirement per topic that has criteria at that level;
  its behaviours are the criteria, then each example criterion with its examples appended as
  " (for example: ...; ...)". Targets are not in the source: None, one warning per file.

Front matter fields that only place a page in Monzo's site (sidebarGroup, homepage, yaml) are
not imported. A tab after a list dash, which YAML rejects, is repaired with a warning naming the
line; any other YAML error stops the import with an error at its file line.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import yaml

from libs.events.schemas.framework import (
    MAX_GRADE,
    Competency,
    Framework,
    JobFamily,
    Level,
    Nature,
    Requirement,
    RoleProfile,
    Track,
    TrackKind,
)
from services.framework.adapters.files.markdown import (
    FrontMatter,
    ImportLog,
    Line,
    one_line,
    paragraphs,
    run_import,
    sections,
    split_front_matter,
)
from services.framework.adapters.files.report import ImportResult, slug
from services.framework.adapters.files.yaml_source import compose

FORMAT = "monzo"

# Behavioural: how someone works with and through others and conducts themselves. Everything
# else Monzo names (knowledge, mastery, impact, execution, domain, data skills) is technical.
BEHAVIOURAL_STEMS = (
    "communicat",
    "comms",
    "feedback",
    "teamwork",
    "collaborat",
    "works through others",
    "leadership",
    "influence",
    "mentor",
    "coach",
    "ownership",
    "conduct",
    "culture",
)

_USED_FIELDS = {"path", "title", "sidebarTitle", "levels", "topics", "yaml"}
_SITE_FIELDS = {"sidebarGroup", "homepage"}
_TOPIC_FIELDS = {"name", "title", "content"}
_CONTENT_FIELDS = {"level", "criteria", "exampleCriteria"}
_EXAMPLE_FIELDS = {"criteria", "examples"}
_LEVEL_HEADING = re.compile(r"^level\s+(\d+)$", re.IGNORECASE)
_TAB_AFTER_DASH = re.compile(r"^(\s*-)\t[\t ]*")
# Emoji and their joiners, variation selectors and skin tones lead Monzo's titles.
_DECORATION = {"So", "Sk", "Mn", "Me", "Cf", "Co", "Cs", "Zs"}


def load(text: str, file: str) -> ImportResult:
    return run_import(FORMAT, file, lambda log: _framework(text, log))


@dataclass
class _Topic:
    key: str
    name: str
    description: str
    line: int | None
    field: str
    by_level: dict[int, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Yaml:
    data: dict[str, Any]
    lines: dict[str, int]  # source field ("topics[2].content[0]") -> file line

    def line(self, where: str) -> int | None:
        return self.lines.get(where)


def _framework(text: str, log: ImportLog) -> Framework:
    front = split_front_matter(text)
    if front is None:
        raise log.fail(1, None, "no YAML front matter ('---' on line 1): not a Monzo framework")
    if not front.closed:
        raise log.fail(1, None, "the front matter opened on line 1 is never closed by '---'")
    doc = _read_yaml(front, log)
    data = doc.data
    for name in sorted(set(data) - _USED_FIELDS - _SITE_FIELDS):
        log.warn(doc.line(name), name, "front matter field not imported")

    path = data.get("path")
    if isinstance(path, str) and slug(path, ""):
        log.framework_id = slug(path)
        family_key = slug(path.rstrip("/").rsplit("/", 1)[-1], log.framework_id)
    else:
        log.warn(doc.line("path") or 1, "path", "no path: the file name is the identity")
        family_key = log.framework_id
    title = _clean(data.get("title"))
    family_name = _clean(data.get("sidebarTitle")) or title or family_key
    if not title:
        log.warn(doc.line("title") or 1, "title", "no title: the family name is the name")
    kind: TrackKind = "manager" if "leadership" in f"{path} {title}".lower() else "ic"

    if data.get("yaml") is False:
        topics = _markdown_topics(front.body, log)
        description = ""
    else:
        topics = _yaml_topics(doc, log)
        description = "\n".join(x.text for x in front.body).strip()
        if description and not log.fits(description, front.body[0].number, None):
            description = ""
    natures: dict[str, Nature] = {}
    for topic in topics:
        nature, stem = _nature(topic.name, topic.description)
        natures[topic.key] = nature
        log.warn(
            topic.line,
            topic.field,
            f"nature {nature!r} inferred from the name"
            + (f" (contains {stem!r})" if stem else " (no behavioural keyword)"),
        )

    numbers = _level_numbers(doc, topics, log)
    levels = [Level(code=f"L{n}", name=f"Level {n}", grade=n) for n in numbers]
    log.warn(None, None, "the source sets no target proficiencies: every target is empty")
    return Framework(
        name=title or family_name,
        description=description,
        families=[
            JobFamily(key=family_key, name=family_name, tracks=[Track(kind=kind, levels=levels)])
        ],
        competencies=[
            Competency(
                key=t.key,
                name=t.name,
                description=t.description,
                kind="functional",
                nature=natures[t.key],
                family=family_key,
            )
            for t in topics
        ],
        roles=[
            RoleProfile(
                key=f"{family_key}-l{n}",
                name=f"{family_name} L{n}",
                family=family_key,
                track=kind,
                level=f"L{n}",
                requirements=[
                    Requirement(competency=t.key, behaviours=t.by_level[n])
                    for t in topics
                    if t.by_level.get(n)
                ],
            )
            for n in numbers
        ],
    )


def _clean(value: object) -> str:
    """A title without the emoji (and joiners, selectors, spaces) it starts with."""
    if not isinstance(value, str):
        return ""
    text = value.strip()
    start = 0
    while start < len(text) and unicodedata.category(text[start]) in _DECORATION:
        start += 1
    return text[start:].strip()


def _nature(name: str, description: str) -> tuple[Nature, str | None]:
    """Behavioural when the name (else the description) holds a behavioural stem."""
    for text in (name.lower(), description.lower()):
        if stem := next((s for s in BEHAVIOURAL_STEMS if s in text), None):
            return "behavioural", stem
    return "technical", None


def _level_numbers(doc: _Yaml, topics: list[_Topic], log: ImportLog) -> list[int]:
    found = sorted({n for t in topics for n, texts in t.by_level.items() if texts})
    if not found:
        raise log.fail(doc.line("topics") or 1, "topics", "no criteria at any level")
    declared = doc.data.get("levels")
    if declared is None:
        return found
    line = doc.line("levels")
    if not isinstance(declared, int) or isinstance(declared, bool) or declared < 1:
        log.warn(line, "levels", f"levels {declared!r} is not a count of levels: ignored")
    elif found != list(range(1, declared + 1)):
        log.warn(
            line,
            "levels",
            f"declares {declared} levels but the criteria are at levels "
            f"{', '.join(map(str, found))}: imported those levels "
            f"({', '.join(f'L{n}' for n in found)})",
        )
    return found


def _read_yaml(front: FrontMatter, log: ImportLog) -> _Yaml:
    source = front.yaml.split("\n")
    repaired: list[int] = []
    while True:
        try:
            node, data = compose("\n".join(source))
            break
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            # Each repair removes a tab, so this loop ends.
            if mark is not None and _repair_tab(source, mark.line, mark.column):
                repaired.append(mark.line)
                continue
            line = mark.line + front.first_line if mark is not None else front.first_line
            problem = " ".join(p for p in (exc.context, exc.problem) if p)
            raise log.fail(line, None, f"the front matter is not valid YAML: {problem}") from exc
        except yaml.YAMLError as exc:
            raise log.fail(front.first_line, None, f"the front matter is not YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise log.fail(front.first_line, None, "the front matter is not a mapping of fields")
    lines: dict[str, int] = {}
    _locate(node, "", front.first_line, lines)
    # The most specific field on a line names it: longer paths overwrite shorter ones.
    by_line = {line: where for where, line in sorted(lines.items(), key=lambda x: len(x[0]))}
    for index in repaired:
        line = index + front.first_line
        log.warn(line, by_line.get(line), "a tab after '-' is not valid YAML: read as a space")
    return _Yaml(data, lines)


def _repair_tab(source: list[str], index: int, column: int) -> bool:
    """Replace tabs right after a sequence dash by a space: the only repair that is safe."""
    match = _TAB_AFTER_DASH.match(source[index]) if index < len(source) else None
    if match is None or column > match.end():
        return False
    source[index] = match.group(1) + " " + source[index][match.end() :]
    return True


def _locate(node: yaml.Node, where: str, offset: int, lines: dict[str, int]) -> None:
    lines.setdefault(where, node.start_mark.line + offset)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = f"{where}.{key.value}" if where else str(key.value)
            # A field's line is its key's: an empty value has no line of its own.
            lines[child] = key.start_mark.line + offset
            _locate(value, child, offset, lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _locate(item, f"{where}[{i}]", offset, lines)


def _unmapped(
    value: dict[str, Any], known: set[str], where: str, doc: _Yaml, log: ImportLog
) -> None:
    for name in sorted(set(value) - known, key=str):
        log.warn(doc.line(f"{where}.{name}"), f"{where}.{name}", "field not imported")


def _list(value: Any, where: str, doc: _Yaml, log: ImportLog) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    log.warn(doc.line(where), where, f"expected a list, found {type(value).__name__}: skipped")
    return []


def _texts(value: Any, where: str, doc: _Yaml, log: ImportLog) -> list[str]:
    texts: list[str] = []
    for i, item in enumerate(_list(value, where, doc, log)):
        at = f"{where}[{i}]"
        if not isinstance(item, str) or not item.strip():
            log.warn(doc.line(at), at, f"expected text, found {item!r}: skipped")
        elif log.fits(one_line(item), doc.line(at), at):
            texts.append(one_line(item))
    return texts


def _yaml_topics(doc: _Yaml, log: ImportLog) -> list[_Topic]:
    raw = doc.data.get("topics")
    if not isinstance(raw, list) or not raw:
        raise log.fail(doc.line("topics") or 1, "topics", "no topics: not a Monzo framework")
    topics: list[_Topic] = []
    for i, item in enumerate(raw):
        where = f"topics[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            log.warn(doc.line(where), where, "a topic needs a name: skipped")
            continue
        _unmapped(item, _TOPIC_FIELDS, where, doc, log)
        head, _, rest = item["name"].partition(":")
        key = slug(head, f"topic-{i + 1}")
        if any(t.key == key for t in topics):
            log.warn(
                doc.line(f"{where}.name"),
                f"{where}.name",
                f"repeats topic {key!r}: kept as {key}-{i + 1}",
            )
            key = f"{key}-{i + 1}"
        name = _clean(item.get("title")) or head.strip()[:1].upper() + head.strip()[1:]
        topic = _Topic(key, name, rest.strip(), doc.line(f"{where}.name"), f"{where}.name")
        for j, entry in enumerate(_list(item.get("content"), f"{where}.content", doc, log)):
            _read_content(entry, f"{where}.content[{j}]", topic, doc, log)
        topics.append(topic)
    return topics


def _read_content(entry: Any, where: str, topic: _Topic, doc: _Yaml, log: ImportLog) -> None:
    level = entry.get("level") if isinstance(entry, dict) else None
    if not isinstance(level, int) or isinstance(level, bool) or not 1 <= level <= MAX_GRADE:
        log.warn(doc.line(where), where, f"needs a level from 1 to {MAX_GRADE}: skipped")
        return
    _unmapped(entry, _CONTENT_FIELDS, where, doc, log)
    texts = topic.by_level.setdefault(level, [])
    texts += _texts(entry.get("criteria"), f"{where}.criteria", doc, log)
    examples = f"{where}.exampleCriteria"
    for k, example in enumerate(_list(entry.get("exampleCriteria"), examples, doc, log)):
        at = f"{examples}[{k}]"
        criteria = example.get("criteria") if isinstance(example, dict) else None
        if not isinstance(criteria, str) or not criteria.strip():
            log.warn(doc.line(at), at, "an example criterion needs its criteria text: skipped")
            continue
        _unmapped(example, _EXAMPLE_FIELDS, at, doc, log)
        cases = _texts(example.get("examples"), f"{at}.examples", doc, log)
        text = one_line(criteria) + (f" (for example: {'; '.join(cases)})" if cases else "")
        if log.fits(text, doc.line(at), at):
            texts.append(text)


def _markdown_topics(body: list[Line], log: ImportLog) -> list[_Topic]:
    """`yaml: false` files: `## Level N`, then `### Competency` headings over paragraphs."""
    preamble, levels = sections(body, 2)
    for paragraph in paragraphs(preamble):
        log.warn(paragraph.number, None, "text before the first level: not imported")
    topics: dict[str, _Topic] = {}
    for section in levels:
        match = _LEVEL_HEADING.match(section.title.strip())
        if match is None or not 1 <= int(match.group(1)) <= MAX_GRADE:
            log.warn(section.line, section.title, "not a '## Level N' section: not imported")
            continue
        n = int(match.group(1))
        intro, headings = sections(section.lines, 3)
        for paragraph in paragraphs(intro):
            log.warn(paragraph.number, section.title, "text outside a competency: not imported")
        for competency in headings:
            where = f"{section.title}.{competency.title}"
            key = slug(competency.title, f"competency-{len(topics) + 1}")
            topic = topics.setdefault(
                key, _Topic(key, _clean(competency.title) or key, "", competency.line, where)
            )
            texts = [p for p in paragraphs(competency.lines) if log.fits(p.text, p.number, where)]
            if not texts:
                log.warn(competency.line, where, "no text under this competency")
            topic.by_level.setdefault(n, []).extend(p.text for p in texts)
    if not topics:
        raise log.fail(
            body[0].number if body else 1, None, "no '## Level N' sections with competencies"
        )
    return list(topics.values())
