"""CSV cells a spreadsheet will not run as formulas.

A cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return is taken for a formula
by Excel, LibreOffice and Google Sheets when the file is opened: text a user typed (a
competency name, a comment) could then compute, fetch URLs or run commands on the reader's
machine. Every CSV the project writes goes through `writer`, which prefixes such a cell with
an apostrophe, the spreadsheets' own "this is text" mark.

The escaping is reversible, so files the project reads back (the framework grid) hold the
same text after a round trip: `restore(neutralise(s)) == s` for every string. An apostrophe
already in front of a trigger is escaped too (`'=x` is written `''=x`), so a cell that
starts with apostrophes and then a trigger always had one added, and `restore` removes
exactly that one. A cell edited in a spreadsheet and saved without the apostrophe reads back
as typed.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, Protocol

# The longest cell any CSV reader of the project takes, in characters: as large as the
# largest file one reads (the framework import, 16 MiB), since a grid's `behaviours` cell holds
# any number of behaviours and a grid the service wrote must read back. csv's own default,
# 131,072, is the process's, not a reader's: it is set here, once, at import, and every reader
# imports this module, so that no reader's limit depends on which module was imported first.
MAX_CELL_CHARS = 16 * 1024 * 1024
csv.field_size_limit(MAX_CELL_CHARS)

# Characters that make a spreadsheet read the cell as a formula (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_ESCAPED = re.compile(r"'*[=+\-@\t\r]")


class _Writable(Protocol):
    def write(self, text: str, /) -> Any: ...


def neutralise(value: object) -> str:
    """The cell's text, with an apostrophe in front when a spreadsheet would run it. None is
    an empty cell, other values their `str`, as `csv.writer` writes them. A number is written
    as it is when finite: its text is digits, a sign, a point and an exponent, never a
    formula, and a negative one escaped would read as text (no sorting, no sums)."""
    number = isinstance(value, int | float | Decimal) and not isinstance(value, bool)
    if number and math.isfinite(value):  # type: ignore[arg-type]
        return str(value)
    text = "" if value is None else value if isinstance(value, str) else str(value)
    return "'" + text if _ESCAPED.match(text) else text


def restore(cell: str) -> str:
    """The text `neutralise` was given: the apostrophe it added removed."""
    return cell[1:] if cell.startswith("'") and _ESCAPED.match(cell) else cell


class FormulaSafeWriter:
    """`csv.writer` whose every cell is neutralised."""

    def __init__(self, out: _Writable, **options: Any) -> None:
        self._writer = csv.writer(out, **options)

    def writerow(self, row: Iterable[object]) -> None:
        self._writer.writerow([neutralise(cell) for cell in row])

    def writerows(self, rows: Iterable[Iterable[object]]) -> None:
        for row in rows:
            self.writerow(row)


def writer(out: _Writable, **options: Any) -> FormulaSafeWriter:
    """A CSV writer for files people open in spreadsheets; `options` as for `csv.writer`."""
    return FormulaSafeWriter(out, **options)
