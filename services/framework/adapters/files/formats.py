"""Every file format the framework service reads or writes, chosen by name or by the file.

Reading never raises for bad input: the result says what could not be read and where.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import Literal, get_args

from libs.events.schemas.framework import Framework
from services.framework.adapters.files import engineering_ladders, grid_csv, monzo, native
from services.framework.adapters.files.report import ImportIssue, ImportResult, slug

ImportFormat = Literal["yaml", "json", "csv", "monzo", "engineering-ladders"]
ExportFormat = Literal["yaml", "json", "csv"]
IMPORT_FORMATS: tuple[str, ...] = get_args(ImportFormat)
MEDIA_TYPES: dict[str, str] = {
    "yaml": "application/yaml",
    "json": "application/json",
    "csv": "text/csv",
}
SUFFIXES: dict[str, ImportFormat] = {
    ".yaml": "yaml",
    ".yml": "yaml",
    ".json": "json",
    ".csv": "csv",
}


def detect(file: str, text: str) -> ImportFormat | None:
    """The format by the file's suffix, or for markdown by its shape."""
    suffix = PurePath(file).suffix.lower()
    if suffix in SUFFIXES:
        return SUFFIXES[suffix]
    if suffix in {".md", ".markdown"}:
        # Monzo's files open with YAML front matter; the engineering ladders are plain markdown.
        return "monzo" if text.lstrip("\ufeff").startswith("---") else "engineering-ladders"
    return None


def read(text: str, file: str, fmt: ImportFormat | None = None) -> ImportResult:
    """Never raises: a reader that breaks on odd input still yields an error issue."""
    try:
        return _read(text, file, fmt)
    except Exception as error:  # noqa: BLE001 - bad input must not crash the service
        return _unreadable(file, str(fmt), f"cannot be read: {type(error).__name__}: {error}")


def _read(text: str, file: str, fmt: ImportFormat | None) -> ImportResult:
    fmt = fmt or detect(file, text)
    match fmt:
        case "yaml" | "json":
            return native.load(text, file, fmt)
        case "csv":
            return grid_csv.load(text, file)
        case "monzo":
            return monzo.load(text, file)
        case "engineering-ladders":
            return engineering_ladders.load(text, file)
    return _unreadable(
        file,
        "unknown",
        f"cannot tell the format from the file name; name one of {list(IMPORT_FORMATS)}",
    )


def _unreadable(file: str, fmt: str, message: str) -> ImportResult:
    return ImportResult(
        source=file,
        format=fmt,
        framework_id=slug(PurePath(file).stem, "framework"),
        framework=None,
        issues=[ImportIssue(file=file, severity="error", message=message)],
    )


def write(framework: Framework, framework_id: str, fmt: ExportFormat) -> str:
    if fmt == "csv":
        return grid_csv.dump(framework)
    return native.dump(framework, framework_id, fmt)
