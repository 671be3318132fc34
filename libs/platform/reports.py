"""HR's reports over HTTP, one way for every service that serves them: JSON, or with
`?format=csv` a CSV file of the report's rows for a spreadsheet, every cell formula-safe
(libs/platform/spreadsheets.py), since department names are typed by people."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

from fastapi import Query, Response
from pydantic import BaseModel

from libs.platform import spreadsheets

ReportFormat = Literal["json", "csv"]
Department = Annotated[
    str | None, Query(min_length=1, max_length=200, description="only this department")
]


def report_answer(model: type[BaseModel]) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI answer of a report: the model as JSON, or CSV."""
    return {200: {"model": model, "content": {"text/csv": {"schema": {"type": "string"}}}}}


def _cell(value: object) -> object:
    # Means and shares to three places: a spreadsheet's reader wants no float noise.
    return "" if value is None else round(value, 3) if isinstance(value, float) else value


def report(
    name: str,
    format: ReportFormat,
    answer: BaseModel,
    rows: Sequence[BaseModel],
    row_model: type[BaseModel],
    first: Mapping[str, object] | None = None,
) -> Response:
    """The report as JSON, or as a CSV file `name`.csv of its rows, a column per field of
    `row_model` after the `first` columns (the same value on every row)."""
    if format == "json":
        return Response(answer.model_dump_json(), media_type="application/json")
    first = first or {}
    out = io.StringIO()
    writer = spreadsheets.writer(out)
    writer.writerow([*first, *row_model.model_fields])
    for row in rows:
        writer.writerow([*first.values(), *map(_cell, row.model_dump().values())])
    disposition = {"Content-Disposition": f'attachment; filename="{name}.csv"'}
    return Response(out.getvalue(), media_type="text/csv", headers=disposition)
