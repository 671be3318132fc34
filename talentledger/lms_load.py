"""`talentledger lms load catalog.csv`: the first load of the L&D catalog, as LMS events.

The file is a CSV export from the learning management system, one row per course and
competency the course builds:

    course_id,title,format,duration_hours,competency,from_level,to_level[,retired]

- `course_id`: the LMS's own id (up to 120 characters); `title`: up to 300 characters.
- `format`: one of classroom, online, blended, workshop, self_paced (case and `-`/space
  instead of `_` do not matter).
- `duration_hours`: a number of hours above 0, at most 2000.
- `competency`: the framework's competency key (lower-case letters, digits, `.`, `_`, `-`);
  `from_level` (0-5) and `to_level` (1-5): whole numbers, `to_level` above `from_level`.
- `retired` (optional column): true or false (also yes/no, 1/0; empty is false).

A course that builds two competencies has two rows that repeat its course_id, title, format,
duration_hours and retired; a repeated course field that differs is a bad row naming both
values. Bad rows are reported with their line and column and never stop the good courses,
but a course with any bad row is left out entirely: never half a course.

The good courses are published as `CourseCatalogUpdated` events of up to 200 courses (and
well under a NATS message's 1 MiB), in course id order. Each event's id is derived from its
courses' content, so loading the same file again publishes nothing new (JetStream and the
admission drop repeats: libs/events/intake.py) and a changed course only republishes its own
batch's ids.

Completions the LMS reports (`CourseCompleted`) go the same way (`publish_completions`), each
with an id derived from who completed which course on which day: reported twice, it is one
completion.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, get_args

from faststream.nats import NatsBroker
from pydantic import ValidationError

from libs.events.envelope import Envelope, new_event_id
from libs.events.schemas.lms import (
    Course,
    CourseCatalogUpdated,
    CourseCompetency,
    CourseCompleted,
    CourseFormat,
)
from talentledger.csv_rows import BadRow, Row, rows
from talentledger.inbound import Published, outside_envelope, publish

COLUMNS = (
    "course_id",
    "title",
    "format",
    "duration_hours",
    "competency",
    "from_level",
    "to_level",
)
OPTIONAL_COLUMNS = ("retired",)
HEADER = ",".join(COLUMNS)
COURSE_FIELDS = ("title", "format", "duration_hours", "retired")
FORMATS: tuple[str, ...] = get_args(CourseFormat)
BATCH_COURSES = 200
BATCH_BYTES = 256 * 1024  # a NATS message is at most 1 MiB by default
STREAM_PREFIX = "lms-catalog"
COMPLETIONS_PREFIX = "lms-completion"
# Fixed, so that the same batch of courses always has the same event id.
NAMESPACE = uuid.UUID("0d6c3b8e-7a41-4f2b-a3c5-94e1d2f08b67")

_KEY = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_TRUE = {"true", "yes", "y", "1"}
_FALSE = {"false", "no", "n", "0", ""}


class CatalogUnreadable(Exception):
    """The file cannot be read as UTF-8 text at all."""


@dataclass
class CatalogFile:
    """What a catalog export holds: the courses to publish, the rows refused, and warnings.

    `left_out`: ids of courses not published because at least one of their rows is bad.
    """

    courses: list[Course] = field(default_factory=list)
    bad_rows: list[BadRow] = field(default_factory=list)
    warnings: list[BadRow] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)


@dataclass
class _Draft:
    """A course as its rows come in: course fields from its first good value, and builds."""

    first_line: int
    fields: dict[str, tuple[Any, int]] = field(default_factory=dict)  # value, line
    builds: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # levels, line
    bad: bool = False


def read_catalog(source: str | Path) -> CatalogFile:
    """Parse and check every row of a catalog export (its text, or a path to it).

    Raises `CatalogUnreadable` for a path that cannot be read or is not UTF-8 text.
    """
    if isinstance(source, Path):
        try:
            text = source.read_text(encoding="utf-8")
        except UnicodeDecodeError as error:
            raise CatalogUnreadable(f"{source} is not UTF-8 text: {error}") from None
        except OSError as error:
            raise CatalogUnreadable(f"cannot read {source}: {error.strerror or error}") from None
    else:
        text = source
    result = CatalogFile()
    drafts: dict[str, _Draft] = {}
    for row in rows(text, result.bad_rows, lambda names: _header(names, result)):
        _read_row(row, drafts, result)
    if not drafts and not result.bad_rows:
        result.bad_rows.append(BadRow(1, None, "no course rows under the header"))
    for course_id, draft in drafts.items():
        if draft.bad:
            result.left_out.append(course_id)
            continue
        course = _course(course_id, draft, result)
        if course is None:
            result.left_out.append(course_id)
        else:
            result.courses.append(course)
    return result


def _header(names: list[str], result: CatalogFile) -> list[str] | None:
    """Column names read forgivingly (case, spaces); None when a column is missing."""
    if not names:
        result.bad_rows.append(BadRow(1, None, f"the file is empty; expected the header {HEADER}"))
        return None
    names = [name.strip().lower() for name in names]
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        result.bad_rows.append(
            BadRow(
                1,
                None,
                f"missing columns {', '.join(missing)}; the header is {HEADER} "
                "(and optionally retired)",
            )
        )
        return None
    for name in names:
        if name not in COLUMNS and name not in OPTIONAL_COLUMNS:
            result.warnings.append(BadRow(1, name or None, "column not used; its values ignored"))
    return names


def _read_row(row: Row, drafts: dict[str, _Draft], result: CatalogFile) -> None:
    """Check one row and add it to its course's draft; a bad row marks the course bad."""
    line, values = row.line, row.values
    problems: list[BadRow] = []
    if row.too_long:
        problems.append(BadRow(line, None, "more fields than the header has columns"))
    course_id = values["course_id"]
    if not course_id:
        problems.append(BadRow(line, "course_id", "empty: every row needs its course id"))
    elif len(course_id) > 120:
        problems.append(BadRow(line, "course_id", "longer than 120 characters"))
    parsed: dict[str, Any] = {}
    for name, parse in _PARSERS.items():
        try:
            parsed[name] = parse(values.get(name, ""))
        except ValueError as error:
            problems.append(BadRow(line, name, str(error)))
    levels = (parsed.get("from_level"), parsed.get("to_level"))
    if None not in levels and levels[1] <= levels[0]:
        problems.append(
            BadRow(
                line,
                "to_level",
                f"{levels[1]} must be above from_level {levels[0]}: a course builds a level up",
            )
        )
        parsed.pop("to_level")
    if not course_id or len(course_id) > 120:
        result.bad_rows.extend(problems)
        return
    draft = drafts.setdefault(course_id, _Draft(line))
    problems.extend(_conflicts(course_id, draft, parsed, line, result))
    if problems:
        draft.bad = True
        result.bad_rows.extend(problems)


def _conflicts(
    course_id: str, draft: _Draft, parsed: dict[str, Any], line: int, result: CatalogFile
) -> list[BadRow]:
    """A repeated course field must match; a competency is built once per course."""
    problems = []
    for name in COURSE_FIELDS:
        if name not in parsed:
            continue
        value = parsed[name]
        if name not in draft.fields:
            draft.fields[name] = (value, line)
        elif draft.fields[name][0] != value:
            first, first_line = draft.fields[name]
            problems.append(
                BadRow(
                    line,
                    name,
                    f"{_shown(value)} differs from {_shown(first)} on line {first_line} "
                    f"for course {course_id!r}: make them the same",
                )
            )
    competency = parsed.get("competency")
    if competency is not None and "from_level" in parsed and "to_level" in parsed:
        levels = (parsed["from_level"], parsed["to_level"])
        if competency not in draft.builds:
            draft.builds[competency] = (*levels, line)
        elif draft.builds[competency][:2] == levels:
            result.warnings.append(
                BadRow(
                    line,
                    "competency",
                    f"repeats line {draft.builds[competency][2]} for course {course_id!r}; "
                    "counted once",
                )
            )
        else:
            before, after, first_line = draft.builds[competency]
            problems.append(
                BadRow(
                    line,
                    "competency",
                    f"{competency!r} is built from {levels[0]} to {levels[1]} here but from "
                    f"{before} to {after} on line {first_line} for course {course_id!r}: "
                    "keep one row",
                )
            )
    return problems


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return repr(value)


def _title(value: str) -> str:
    if not value:
        raise ValueError("empty: every course needs a title")
    if len(value) > 300:
        raise ValueError(f"longer than 300 characters ({len(value)})")
    return value


def _format(value: str) -> str:
    normal = re.sub(r"[\s-]+", "_", value.lower())
    if normal not in FORMATS:
        raise ValueError(f"unknown format {value!r}; use one of {', '.join(FORMATS)}")
    return normal


def _duration(value: str) -> float:
    try:
        hours = float(value)
    except ValueError:
        raise ValueError(f"not a number (found {value!r}); write hours like 1.5") from None
    if not math.isfinite(hours) or not 0 < hours <= 2000:
        raise ValueError(f"{value} is out of range: hours above 0, at most 2000")
    return hours


def _competency(value: str) -> str:
    if not value:
        raise ValueError("empty: every row names the competency the course builds")
    if len(value) > 80 or not _KEY.match(value):
        raise ValueError(
            f"{value!r} is not a competency key: lower-case letters, digits, '.', '_' or '-', "
            "starting with a letter or digit, at most 80 characters"
        )
    return value


def _level(low: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        if not value:
            raise ValueError(f"empty; use a level from {low} to 5")
        try:
            level = int(value)
        except ValueError:
            raise ValueError(
                f"not a whole number (found {value!r}); use a level from {low} to 5"
            ) from None
        if not low <= level <= 5:
            raise ValueError(f"{level} is out of range: use a level from {low} to 5")
        return level

    return parse


def _retired(value: str) -> bool:
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ValueError(f"{value!r} is not true or false")


_PARSERS: dict[str, Callable[[str], Any]] = {
    "title": _title,
    "format": _format,
    "duration_hours": _duration,
    "retired": _retired,
    "competency": _competency,
    "from_level": _level(0),
    "to_level": _level(1),
}


def _course(course_id: str, draft: _Draft, result: CatalogFile) -> Course | None:
    """The course of a draft with no bad row; builds sorted, so row order does not matter."""
    try:
        return Course(
            course_id=course_id,
            title=draft.fields["title"][0],
            format=draft.fields["format"][0],
            duration_hours=draft.fields["duration_hours"][0],
            retired=draft.fields.get("retired", (False, 0))[0],
            builds=[
                CourseCompetency(competency=key, from_level=low, to_level=high)
                for key, (low, high, _) in sorted(draft.builds.items())
            ],
        )
    except ValidationError as error:  # the checks above should have caught it all
        for problem in error.errors():
            column = ".".join(str(part) for part in problem["loc"]) or None
            result.bad_rows.append(BadRow(draft.first_line, column, problem["msg"]))
        return None


def batches(
    courses: Iterable[Course], size: int = BATCH_COURSES, max_bytes: int = BATCH_BYTES
) -> Iterator[list[Course]]:
    """The courses in course id order, in batches of at most `size` courses and about
    `max_bytes` of JSON: the same catalog always gives the same batches."""
    batch: list[Course] = []
    weight = 0
    for course in sorted(courses, key=lambda c: c.course_id):
        course_bytes = len(course.model_dump_json()) + 1
        if batch and (len(batch) >= size or weight + course_bytes > max_bytes):
            yield batch
            batch, weight = [], 0
        batch.append(course)
        weight += course_bytes
    if batch:
        yield batch


def event_id_of(batch: list[Course]) -> uuid.UUID:
    """Derived from the batch's course ids and content: a changed course changes the id."""
    content = json.dumps(
        [c.model_dump(mode="json") for c in batch], sort_keys=True, separators=(",", ":")
    )
    digest = hashlib.sha256(content.encode()).hexdigest()
    return uuid.uuid5(NAMESPACE, f"{CourseCatalogUpdated.event_type}:{digest}")


def envelope_of(batch: list[Course], actor: str, correlation_id: uuid.UUID) -> Envelope:
    """A batch of the catalog as an LMS integration publishes it: each batch upserts its own
    courses, in no sequence, so each is the first and only event of a stream of its own
    (named by its id: the log that admits it keeps one event per stream version)."""
    event = CourseCatalogUpdated(courses=batch)
    event_id = event_id_of(batch)
    stream = f"{STREAM_PREFIX}-{event_id}"
    return outside_envelope(event, event_id, stream, actor, correlation_id)


async def publish_catalog(
    broker: NatsBroker,
    courses: Iterable[Course],
    actor: str,
    advance: Callable[[int], None] = lambda _: None,
    window: int = 16,
) -> Published:
    """Publish the courses in batches, a window of acknowledgements in flight at a time.

    `advance` is called with the number of courses of each acknowledged batch; the result
    counts courses as its items.
    """
    correlation_id = new_event_id()
    envelopes = ((envelope_of(b, actor, correlation_id), len(b)) for b in batches(courses))
    return await publish(broker, envelopes, advance, window)


def completion_envelope(
    completed: CourseCompleted, actor: str, correlation_id: uuid.UUID
) -> Envelope:
    """A completion as an LMS integration publishes it: its id derived from the person, the
    course and the day, each the only event of a stream of its own (as a catalog batch)."""
    key = f"{completed.employee_id}:{completed.course_id}:{completed.completed_on.isoformat()}"
    event_id = uuid.uuid5(NAMESPACE, f"{CourseCompleted.event_type}:{key}")
    stream = f"{COMPLETIONS_PREFIX}-{event_id}"
    return outside_envelope(completed, event_id, stream, actor, correlation_id)


async def publish_completions(
    broker: NatsBroker,
    completions: Iterable[tuple[str, str, date]],
    actor: str,
    advance: Callable[[int], None] = lambda _: None,
) -> Published:
    """Publish (employee id, course id, completed on) as `CourseCompleted` events on the
    intake; the result counts completions as its items."""
    correlation_id = new_event_id()
    envelopes = (
        (
            completion_envelope(
                CourseCompleted(employee_id=employee, course_id=course, completed_on=on),
                actor,
                correlation_id,
            ),
            1,
        )
        for employee, course, on in completions
    )
    return await publish(broker, envelopes, advance)
