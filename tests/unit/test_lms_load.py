"""Reading an LMS catalog export: bad rows are reported, never stop the good courses, and a
course with a bad row is left out whole."""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path

import pytest

from libs.events.schemas.lms import CourseCatalogUpdated, CourseCompleted
from talentledger.lms_load import (
    COLUMNS,
    CatalogUnreadable,
    batches,
    completion_envelope,
    envelope_of,
    event_id_of,
    read_catalog,
)

HEADER = ",".join(COLUMNS)


def csv_of(*rows: str, header: str = HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


GOOD = [
    "py-101,Python from scratch,online,6,coding,0,2",  # line 2
    "rev-201,Reviewing code kindly,workshop,3.5,code-review,1,3",  # line 3
    "rev-201,Reviewing code kindly,workshop,3.5,collaboration,2,3",  # line 4
    "ops-110,Being on call,Self-Paced,1.25,operations,0,1",  # line 5
]


def lines_and_columns(bad: list) -> list[tuple[int, str | None]]:
    return [(b.line, b.column) for b in bad]


def test_a_clean_export_gives_one_course_per_course_id() -> None:
    catalog = read_catalog(csv_of(*GOOD))
    assert (catalog.bad_rows, catalog.warnings, catalog.left_out) == ([], [], [])
    assert [c.course_id for c in catalog.courses] == ["py-101", "rev-201", "ops-110"]
    python, _, on_call = catalog.courses
    assert (python.title, python.format, python.duration_hours, python.retired) == (
        "Python from scratch",
        "online",
        6.0,
        False,
    )
    assert on_call.format == "self_paced"  # case and '-' do not matter
    assert on_call.duration_hours == 1.25


def test_a_course_with_two_competencies_has_both() -> None:
    catalog = read_catalog(csv_of(*GOOD))
    review = next(c for c in catalog.courses if c.course_id == "rev-201")
    assert [(b.competency, b.from_level, b.to_level) for b in review.builds] == [
        ("code-review", 1, 3),
        ("collaboration", 2, 3),
    ]


def test_the_row_order_of_a_course_does_not_matter() -> None:
    swapped = read_catalog(csv_of(GOOD[0], GOOD[2], GOOD[1], GOOD[3]))
    assert sorted(swapped.courses, key=lambda c: c.course_id) == sorted(
        read_catalog(csv_of(*GOOD)).courses, key=lambda c: c.course_id
    )


def test_an_unknown_format_lists_the_allowed_ones() -> None:
    catalog = read_catalog(csv_of(*GOOD, "mob-1,Pairing all day,podcast,2,coding,1,2"))
    [bad] = catalog.bad_rows
    assert (bad.line, bad.column) == (6, "format")
    assert "'podcast'" in bad.message
    for allowed in ("classroom", "online", "blended", "workshop", "self_paced"):
        assert allowed in bad.message
    assert catalog.left_out == ["mob-1"]
    assert len(catalog.courses) == 3


def test_a_course_must_build_a_level_up() -> None:
    catalog = read_catalog(
        csv_of(
            *GOOD,
            "arch-300,Drawing boxes,classroom,8,architecture,3,3",  # line 6: same level
            "arch-301,Drawing arrows,classroom,8,architecture,4,2",  # line 7: downwards
        )
    )
    assert lines_and_columns(catalog.bad_rows) == [(6, "to_level"), (7, "to_level")]
    assert "3 must be above from_level 3" in catalog.bad_rows[0].message
    assert "2 must be above from_level 4" in catalog.bad_rows[1].message
    assert catalog.left_out == ["arch-300", "arch-301"]


def test_numbers_that_are_not_numbers_say_so() -> None:
    catalog = read_catalog(
        csv_of(
            *GOOD,
            "sql-1,Joins without tears,online,two,data,0,1",  # line 6
            "sql-2,Indexes that help,online,2,data,one,2",  # line 7
            "sql-3,Query plans,online,2,data,1,2.5",  # line 8: not a whole level
            "sql-4,Window functions,online,0,data,1,2",  # line 9: no time at all
            "sql-5,Vacuum,online,nan,data,1,2",  # line 10
            "sql-6,Locks,online,2,data,1,9",  # line 11: no such level
        )
    )
    assert lines_and_columns(catalog.bad_rows) == [
        (6, "duration_hours"),
        (7, "from_level"),
        (8, "to_level"),
        (9, "duration_hours"),
        (10, "duration_hours"),
        (11, "to_level"),
    ]
    messages = [b.message for b in catalog.bad_rows]
    assert messages[0].startswith("not a number (found 'two')")
    assert messages[1].startswith("not a whole number (found 'one')")
    assert messages[2].startswith("not a whole number (found '2.5')")
    assert "above 0" in messages[3]
    assert "out of range" in messages[4]
    assert "from 1 to 5" in messages[5]
    assert [c.course_id for c in catalog.courses] == ["py-101", "rev-201", "ops-110"]


def test_other_bad_values_name_their_column() -> None:
    catalog = read_catalog(
        csv_of(
            *GOOD,
            ",Nameless course,online,1,coding,0,1",  # line 6: no course id
            "t-1,,online,1,coding,0,1",  # line 7: no title
            "t-2,Shouting,online,1,Coding Skills,0,1",  # line 8: not a key
            "t-3,Nothing built,online,1,,0,1",  # line 9: no competency
            "t-4,Too many,online,1,coding,0,1,false,surplus",  # line 10
        )
    )
    assert lines_and_columns(catalog.bad_rows) == [
        (6, "course_id"),
        (7, "title"),
        (8, "competency"),
        (9, "competency"),
        (10, None),
    ]
    assert "more fields" in catalog.bad_rows[-1].message
    assert catalog.left_out == ["t-1", "t-2", "t-3", "t-4"]


def test_line_numbers_count_blank_lines_and_values_on_several_lines() -> None:
    catalog = read_catalog(
        csv_of(
            GOOD[0],
            "",  # line 3
            'ml-1,"Models,\nmetrics and you",online,1,data,0,1',  # lines 4 and 5
            'ml-2,"Graphs\nand charts",radio,1,data,0,1',  # lines 6 and 7
            "ml-3,Broken,online,1,data,2,1",  # line 8
        )
    )
    assert catalog.courses[1].title == "Models,\nmetrics and you"
    assert lines_and_columns(catalog.bad_rows) == [(6, "format"), (8, "to_level")]


def test_a_bad_row_leaves_its_whole_course_out() -> None:
    catalog = read_catalog(
        csv_of(
            *GOOD,
            "lead-1,Leading a team,blended,12,leadership,1,2",  # line 6: good
            "lead-1,Leading a team,blended,12,feedback,2,1",  # line 7: bad levels
        )
    )
    assert lines_and_columns(catalog.bad_rows) == [(7, "to_level")]
    assert catalog.left_out == ["lead-1"]
    assert "lead-1" not in [c.course_id for c in catalog.courses]


def test_conflicting_course_fields_name_both_values() -> None:
    catalog = read_catalog(
        csv_of(
            *GOOD,
            "io-1,Talking to people,classroom,4,communication,1,2",  # line 6
            "io-1,Talking with people,online,4,presenting,0,1",  # line 7: title, format
            "io-1,Talking to people,classroom,5,listening,1,3",  # line 8: duration
        )
    )
    assert lines_and_columns(catalog.bad_rows) == [
        (7, "title"),
        (7, "format"),
        (8, "duration_hours"),
    ]
    title, form, duration = (b.message for b in catalog.bad_rows)
    assert "'Talking with people'" in title
    assert "'Talking to people' on line 6" in title
    assert "'online'" in form
    assert "'classroom' on line 6" in form
    assert "5 differs from 4 on line 6" in duration
    assert catalog.left_out == ["io-1"]


def test_a_competency_built_twice_is_counted_once_or_refused() -> None:
    catalog = read_catalog(
        csv_of(
            "k-1,Kanban basics,online,1,delivery,0,1",  # line 2
            "k-1,Kanban basics,online,1,delivery,0,1",  # line 3: the same again
            "k-2,Scrum basics,online,1,delivery,0,1",  # line 4
            "k-2,Scrum basics,online,1,delivery,0,2",  # line 5: different levels
        )
    )
    assert lines_and_columns(catalog.warnings) == [(3, "competency")]
    assert lines_and_columns(catalog.bad_rows) == [(5, "competency")]
    [kanban] = catalog.courses
    assert len(kanban.builds) == 1
    assert catalog.left_out == ["k-2"]


def test_retired_is_optional_and_read_as_true_or_false() -> None:
    header = HEADER + ",retired"
    catalog = read_catalog(
        csv_of(
            "old-1,Fax etiquette,classroom,2,communication,0,1,true",
            "old-2,Email etiquette,online,1,communication,0,1,",
            "old-3,Chat etiquette,online,1,communication,0,1,No",
            "old-4,Memo etiquette,online,1,communication,0,1,maybe",  # line 5
            "old-1,Fax etiquette,classroom,2,writing,0,1,false",  # line 6: conflicts
            header=header,
        )
    )
    assert {c.course_id: c.retired for c in catalog.courses} == {"old-2": False, "old-3": False}
    assert lines_and_columns(catalog.bad_rows) == [(5, "retired"), (6, "retired")]
    assert "true or false" in catalog.bad_rows[0].message
    assert "false differs from true on line 2" in catalog.bad_rows[1].message
    retired = read_catalog(
        csv_of("old-1,Fax etiquette,classroom,2,communication,0,1,TRUE", header=header)
    )
    assert retired.courses[0].retired is True


def test_an_empty_file_is_one_error() -> None:
    for text in ("", "\ufeff", "\n\n"):
        catalog = read_catalog(text)
        [bad] = catalog.bad_rows
        assert (bad.line, bad.column) == (1, None)
        assert "empty" in bad.message
        assert HEADER in bad.message
        assert catalog.courses == []


def test_a_header_without_rows_is_one_error() -> None:
    [bad] = read_catalog(csv_of()).bad_rows
    assert bad.line == 1
    assert "no course rows" in bad.message


def test_missing_columns_are_one_error_for_the_whole_file() -> None:
    catalog = read_catalog("course_id,title,format\npy-101,Python,online\nx,y,z\n")
    [bad] = catalog.bad_rows
    assert (bad.line, bad.column) == (1, None)
    assert "duration_hours, competency, from_level, to_level" in bad.message
    assert catalog.courses == []


def test_header_names_are_forgiving_and_unknown_columns_are_warnings() -> None:
    header = " Course_ID ,Title,FORMAT,duration_hours,competency,from_level,to_level,notes"
    catalog = read_catalog(
        csv_of("py-101,Python from scratch,online,6,coding,0,2,hi", header=header)
    )
    assert [c.course_id for c in catalog.courses] == ["py-101"]
    assert lines_and_columns(catalog.warnings) == [(1, "notes")]


def test_a_path_is_read_and_an_unreadable_one_is_a_clear_error(tmp_path: Path) -> None:
    good = tmp_path / "catalog.csv"
    good.write_text(csv_of(*GOOD), encoding="utf-8")
    assert len(read_catalog(good).courses) == 3
    latin = tmp_path / "latin.csv"
    latin.write_bytes(csv_of("fr-1,Français,online,1,french,0,1").encode("latin-1"))
    with pytest.raises(CatalogUnreadable, match="not UTF-8"):
        read_catalog(latin)
    with pytest.raises(CatalogUnreadable, match="cannot read"):
        read_catalog(tmp_path / "missing.csv")


def many(count: int, title: str = "Course") -> str:
    return csv_of(*(f"c-{i:04d},{title} {i},online,1,coding,0,1" for i in range(count)))


def test_courses_are_published_in_batches_of_200_in_course_id_order() -> None:
    catalog = read_catalog(many(450))
    sizes = [len(b) for b in batches(reversed(catalog.courses))]
    assert sizes == [200, 200, 50]
    first = next(batches(reversed(catalog.courses)))
    assert [c.course_id for c in first] == [f"c-{i:04d}" for i in range(200)]


def test_batches_stay_well_under_a_message() -> None:
    catalog = read_catalog(many(200, "A long title " + "x" * 280))
    for batch in batches(catalog.courses):
        envelope = envelope_of(batch, "lms-load:tests", uuid.uuid4())
        assert len(envelope.model_dump_json()) < 512 * 1024
    assert len(list(batches(catalog.courses, max_bytes=20_000))) > 1


def test_the_same_catalog_always_has_the_same_event_ids() -> None:
    """Loading a file twice publishes nothing new: JetStream and inboxes drop repeats."""
    catalog = read_catalog(many(450))
    first = [envelope_of(b, "a", uuid.uuid4()).event_id for b in batches(catalog.courses)]
    again = [envelope_of(b, "b", uuid.uuid4()) for b in batches(read_catalog(many(450)).courses)]
    assert first == [e.event_id for e in again]
    assert len(set(first)) == 3
    assert (again[0].stream_id, again[0].source, again[0].event_type) == (
        f"lms-catalog-{first[0]}",
        "lms",
        "CourseCatalogUpdated",
    )
    assert len({e.stream_id for e in again}) == 3, "each batch is a stream of its own"
    assert CourseCatalogUpdated.model_validate(again[0].payload).courses == next(
        batches(catalog.courses)
    )


def test_a_changed_course_changes_only_its_batch_id() -> None:
    before = [event_id_of(b) for b in batches(read_catalog(many(450)).courses)]
    changed = many(450).replace("c-0300,Course 300,", "c-0300,Course three hundred,")
    after = [event_id_of(b) for b in batches(read_catalog(changed).courses)]
    assert (before[0], before[2]) == (after[0], after[2])
    assert before[1] != after[1]


def test_a_completion_reported_twice_is_one_event() -> None:
    """The id comes from who completed which course on which day: the intake drops the
    repeat (libs/events/intake.py), whoever reports it and whenever."""
    completed = CourseCompleted(
        employee_id="E00007", course_id="py-101", completed_on=date(2026, 3, 1)
    )
    first = completion_envelope(completed, "lms-load:a", uuid.uuid4())
    again = completion_envelope(completed, "lms-load:b", uuid.uuid4())
    assert first.event_id == again.event_id
    assert (first.event_type, first.source, first.actor) == (
        "CourseCompleted",
        "lms",
        "lms-load:a",
    )
    assert first.stream_id == f"lms-completion-{first.event_id}"
    assert first.payload == {
        "employee_id": "E00007",
        "course_id": "py-101",
        "completed_on": "2026-03-01",
    }
    next_day = completed.model_copy(update={"completed_on": date(2026, 3, 2)})
    other_course = completed.model_copy(update={"course_id": "py-102"})
    ids = {
        completion_envelope(c, "lms-load:a", uuid.uuid4()).event_id
        for c in (next_day, other_course)
    }
    assert first.event_id not in ids
    assert len(ids) == 2
