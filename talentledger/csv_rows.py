"""Reading a CSV export row by row, as the HRIS and LMS loads do.

Each record comes with the line it starts on, so that a bad row is reported where a person
finds it in the file. A record that is not valid CSV is reported as a bad row and ends the
reading (the csv module cannot find the next record after it); checking the rows themselves
is the caller's.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

# Imported for its cell limit, the same for every reader (libs/platform/spreadsheets.py).
from libs.platform import spreadsheets  # noqa: F401


@dataclass(frozen=True)
class BadRow:
    """A row refused (or warned about), where a person finds it: line and column."""

    line: int
    column: str | None
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: " + (f"{self.column}: " if self.column else "") + self.message


@dataclass(frozen=True)
class Row:
    """One record: its values by column, stripped (a missing one is empty), and whether it
    has more fields than the header has columns."""

    line: int
    values: dict[str, str]
    too_long: bool


def rows(
    text: str,
    bad_rows: list[BadRow],
    header: Callable[[list[str]], list[str] | None],
) -> Iterator[Row]:
    """The records of `text` under its header, reporting what cannot be read to `bad_rows`.

    `header` is given the header's column names (none for an empty file) and returns the
    names to read the rows by, or None, having reported why, when the file cannot be read.
    """
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    try:
        names = reader.fieldnames
    except csv.Error as error:
        bad_rows.append(BadRow(1, None, f"not valid CSV: {error}"))
        return
    columns = header(list(names or []))
    if columns is None:
        return
    reader.fieldnames = columns
    while True:
        line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            bad_rows.append(BadRow(line, None, f"not valid CSV: {error}"))
            return
        yield Row(
            _first_line(row, reader.line_num),
            {k: (v or "").strip() for k, v in row.items() if isinstance(k, str)},
            bool(row.get(None)),
        )


def _first_line(row: dict[Any, Any], last_line: int) -> int:
    """The line a record starts on: blank lines before it are skipped, and a quoted value
    may span lines."""
    values = [v for k, v in row.items() if k is not None] + list(row.get(None) or [])
    return last_line - sum(str(v or "").count("\n") for v in values)
