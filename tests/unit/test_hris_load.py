"""Reading an HRIS people export: bad rows are reported and never stop the good ones."""

from __future__ import annotations

import uuid

from libs.platform import spreadsheets
from talentledger.hris_load import COLUMNS, envelope_of, read_people

HEADER = ",".join(COLUMNS)


def csv_of(*rows: str) -> str:
    return "\n".join([HEADER, *rows]) + "\n"


GOOD = [
    "H1,Hana,Platform,product-engineering,manager,EM3,,2020-01-06",
    "M1,Mo,Platform,product-engineering,manager,EM1,H1,2021-03-01",
    "I1,Ida,Platform,product-engineering,ic,E3,M1,2022-09-12",
]


def test_a_clean_export_gives_one_hire_per_row() -> None:
    people = read_people(csv_of(*GOOD))
    assert (people.bad_rows, people.warnings) == ([], [])
    assert [(h.employee_id, h.manager_id) for h in people.hires] == [
        ("H1", None),
        ("M1", "H1"),
        ("I1", "M1"),
    ]


def test_bad_rows_name_their_line_and_column_and_the_good_ones_stay() -> None:
    people = read_people(
        csv_of(
            *GOOD,
            "B1,,Platform,product-engineering,ic,E1,M1,2023-01-01",  # line 5: no name
            "B2,Bo,Platform,product-engineering,contractor,E1,M1,2023-01-01",  # line 6
            "B3,Bea,Platform,product-engineering,ic,E1,M1,2023-02-30",  # line 7: no such day
            "I1,Ida again,Platform,product-engineering,ic,E3,M1,2022-09-12",  # line 8: repeat
        )
    )
    assert [h.employee_id for h in people.hires] == ["H1", "M1", "I1"]
    assert [(b.line, b.column) for b in people.bad_rows] == [
        (5, "name"),
        (6, "track"),
        (7, "hired_on"),
        (8, "employee_id"),
    ]
    assert "already on line 4" in people.bad_rows[-1].message


def test_a_reporting_loop_is_refused_and_an_unknown_manager_is_a_warning() -> None:
    people = read_people(
        csv_of(
            *GOOD,
            "L1,Lu,Product,product-engineering,manager,EM1,L2,2023-01-01",
            "L2,Li,Product,product-engineering,manager,EM1,L1,2023-01-01",
            "X1,Xi,Product,product-engineering,ic,E2,NOBODY,2023-01-01",
        )
    )
    assert [(b.line, b.column) for b in people.bad_rows] == [(5, "manager_id"), (6, "manager_id")]
    assert [(w.line, w.column) for w in people.warnings] == [(7, "manager_id")]
    assert "X1" in [h.employee_id for h in people.hires]


def test_missing_columns_are_one_error() -> None:
    people = read_people("employee_id,name\nA,B\n")
    [bad] = people.bad_rows
    assert bad.line == 1
    assert "hired_on" in bad.message


def test_the_same_hire_always_has_the_same_event_id() -> None:
    """Loading a file twice publishes nothing new: JetStream and inboxes drop repeats."""
    [hire] = read_people(csv_of(GOOD[0])).hires
    first = envelope_of(hire, "a", uuid.uuid4())
    again = envelope_of(hire, "b", uuid.uuid4())
    assert first.event_id == again.event_id
    assert (first.stream_id, first.stream_version, first.source) == ("employee-H1", 1, "hris")


# One character more than any CSV reader of the project takes in a cell.
OVER_THE_CELL_LIMIT = "x" * (spreadsheets.MAX_CELL_CHARS + 1)


def test_line_numbers_count_blank_lines_and_a_broken_record_ends_the_file() -> None:
    """The loads read rows one way (talentledger/csv_rows.py): a bad row is named by the
    line it starts on, and what is not valid CSV is reported, never raised."""
    people = read_people(
        csv_of(
            GOOD[0],
            "",
            "B1,,Platform,product-engineering,ic,E1,H1,2023-01-01",  # line 4: no name
            OVER_THE_CELL_LIMIT,  # line 5
            GOOD[1],
        )
    )
    assert [h.employee_id for h in people.hires] == ["H1"]
    assert [(b.line, b.column) for b in people.bad_rows] == [(4, "name"), (5, None)]
    assert people.bad_rows[1].message.startswith("not valid CSV")
    [bad] = read_people(OVER_THE_CELL_LIMIT).bad_rows
    assert (bad.line, bad.message[:13]) == (1, "not valid CSV")
