"""Helpers shared by the importers of public markdown frameworks (`monzo`, `engineering_ladders`).

Two parts: a small line-numbered reader for the markdown both formats use (front matter,
ATX headings, paragraphs, list items, pipe tables), and `run_import`, the guard that turns any
failure into an error issue so an importer never raises. Every line number is the 1-based line
of the whole file, so issues point where an editor would.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePath

from pydantic import ValidationError

from libs.events.schemas.framework import TEXT_LIMIT, Framework
from services.framework.adapters.files.report import ImportFailed, ImportIssue, ImportResult, slug

_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
_CLOSING_HASHES = re.compile(r"\s#+$")
_RULE = re.compile(r"^ {0,3}([-*_])(?:\s*\1){2,}\s*$")
_BULLET = re.compile(r"^\s*[*+-]\s+(.*)$")
_NUMBERED = re.compile(r"^\s*(\d+)[.)]\s+(.*)$")
_TABLE_SEPARATOR = re.compile(r"^\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?$")


@dataclass(frozen=True)
class Line:
    number: int
    text: str


def one_line(text: str) -> str:
    """A behaviour is one line: a YAML block scalar's line breaks become spaces."""
    return " ".join(text.split())


def lines_of(text: str) -> list[Line]:
    return [Line(number, t) for number, t in enumerate(text.splitlines(), start=1)]


@dataclass(frozen=True)
class FrontMatter:
    """The YAML between the opening `---` on line 1 and the next `---` line."""

    yaml: str
    first_line: int  # file line of the YAML's first line: add it to a 0-based YAML mark
    body: list[Line]
    closed: bool


def split_front_matter(text: str) -> FrontMatter | None:
    """None when the file does not open with `---`.

    The closing fence is matched as a line, so a fence at end of file without a newline counts.
    """
    lines = lines_of(text)
    if not lines or lines[0].text.rstrip() != "---":
        return None
    for i, line in enumerate(lines[1:], start=1):
        if line.text.rstrip() == "---":
            yaml = "\n".join(x.text for x in lines[1:i])
            return FrontMatter(yaml, 2, lines[i + 1 :], closed=True)
    return FrontMatter("\n".join(x.text for x in lines[1:]), 2, [], closed=False)


@dataclass(frozen=True)
class Section:
    """A heading and the lines under it, up to the next heading of the same or a higher level."""

    level: int
    title: str
    line: int
    lines: list[Line]


def _heading(text: str) -> tuple[int, str] | None:
    match = _HEADING.match(text)
    if match is None:
        return None
    # Closing hashes ("## Title ##") are markup; stripped apart from the match so that no
    # regex backtracks over a long line.
    return len(match.group(1)), _CLOSING_HASHES.sub("", match.group(2).rstrip()).rstrip()


def sections(lines: list[Line], level: int) -> tuple[list[Line], list[Section]]:
    """The lines before the first heading of `level`, and the sections at `level`."""
    preamble: list[Line] = []
    found: list[Section] = []
    for line in lines:
        head = _heading(line.text)
        if head is not None and head[0] <= level:
            # A higher heading closes the current section too: its text is nobody's here.
            found.append(Section(head[0], head[1], line.number, []))
        else:
            (found[-1].lines if found else preamble).append(line)
    return preamble, [s for s in found if s.level == level]


def _is_block_start(text: str) -> bool:
    """Lines that start a block of their own, ending any paragraph above them."""
    return bool(
        _heading(text.strip())
        or _RULE.match(text)
        or _BULLET.match(text)
        or _NUMBERED.match(text)
        or text.lstrip().startswith(("|", "!["))
    )


def paragraphs(lines: list[Line]) -> list[Line]:
    """Plain-text paragraphs (soft line breaks joined by a space), numbered by their first line.

    Headings, rules, lists, tables, images and HTML blocks are not paragraphs.
    """
    found: list[Line] = []
    current: list[Line] = []
    in_html = False
    for line in [*lines, Line(0, "")]:
        stripped = line.text.strip()
        if in_html or (not current and stripped.startswith("<")):
            # An HTML block (the ladders' <picture>) runs to the next blank line.
            in_html = bool(stripped)
            continue
        if stripped and not _is_block_start(line.text):
            current.append(line)
            continue
        if current:
            found.append(Line(current[0].number, " ".join(x.text.strip() for x in current)))
            current = []
    return found


def list_items(lines: list[Line]) -> list[Line]:
    """Bullet (`*`, `-`, `+`) items, without the marker."""
    return [Line(x.number, m.group(1).strip()) for x in lines if (m := _BULLET.match(x.text))]


def numbered_items(lines: list[Line]) -> list[tuple[int, Line]]:
    """Ordered-list items as (the number written in the source, item text)."""
    return [
        (int(m.group(1)), Line(x.number, m.group(2).strip()))
        for x in lines
        if (m := _NUMBERED.match(x.text))
    ]


@dataclass(frozen=True)
class Table:
    header: Line
    columns: list[str]
    rows: list[tuple[Line, list[str]]]


def _cells(text: str) -> list[str]:
    return [c.strip() for c in text.strip().strip("|").split("|")]


def tables(lines: list[Line]) -> list[Table]:
    """Pipe tables: a header row, a separator row, then rows until the first non-table line."""
    found: list[Table] = []
    i = 0
    while i < len(lines) - 1:
        head, separator = lines[i], lines[i + 1]
        if head.text.lstrip().startswith("|") and _TABLE_SEPARATOR.match(separator.text.strip()):
            rows: list[tuple[Line, list[str]]] = []
            i += 2
            while i < len(lines) and lines[i].text.lstrip().startswith("|"):
                rows.append((lines[i], _cells(lines[i].text)))
                i += 1
            found.append(Table(head, _cells(head.text), rows))
            continue
        i += 1
    return found


@dataclass
class ImportLog:
    """What one import reports. `framework_id` is the file stem until the source names one."""

    file: str
    framework_id: str = ""
    issues: list[ImportIssue] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.framework_id = self.framework_id or slug(PurePath(self.file).stem, "framework")

    def warn(self, line: int | None, where: str | None, message: str) -> None:
        self.issues.append(
            ImportIssue(file=self.file, line=line, field=where, severity="warning", message=message)
        )

    def error(self, line: int | None, where: str | None, message: str) -> None:
        self.issues.append(
            ImportIssue(file=self.file, line=line, field=where, severity="error", message=message)
        )

    def fail(self, line: int | None, where: str | None, message: str) -> ImportFailed:
        """The error that ends the import: `raise log.fail(...)`."""
        issue = ImportIssue(
            file=self.file, line=line, field=where, severity="error", message=message
        )
        return ImportFailed([issue])

    def fits(self, text: str, line: int | None, where: str | None) -> bool:
        """Whether `text` fits the model's text limit; a text that does not is reported."""
        if len(text) <= TEXT_LIMIT:
            return True
        self.warn(
            line,
            where,
            f"text of {len(text)} characters exceeds the model's limit of "
            f"{TEXT_LIMIT}: not imported",
        )
        return False


def run_import(fmt: str, file: str, build: Callable[[ImportLog], Framework]) -> ImportResult:
    """Run `build` and never raise: whatever stops it becomes an error issue, framework None."""
    log = ImportLog(file)
    framework: Framework | None = None
    try:
        framework = build(log)
    except ImportFailed as failed:
        log.issues.extend(failed.issues)
    except ValidationError as invalid:
        # Only malformed sources get here (a heading run into its paragraph makes a name too
        # long): quote the start of the value, so the reader can find it in the file.
        for problem in invalid.errors():
            where = ".".join(str(part) for part in problem["loc"])
            value = problem.get("input")
            quoted = (
                f" ({value[:60]!r}{'...' * (len(value) > 60)})" if isinstance(value, str) else ""
            )
            log.error(
                None,
                None,
                f"the imported {invalid.title} is invalid at {where}{quoted}: {problem['msg']}",
            )
    except Exception as exc:  # noqa: BLE001 - the importer's contract is to report, never raise
        log.error(None, None, f"import failed: {type(exc).__name__}: {exc}")
    return ImportResult(
        source=file,
        format=fmt,
        framework_id=log.framework_id,
        framework=framework,
        issues=log.issues,
    )
