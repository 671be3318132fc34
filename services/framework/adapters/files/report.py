"""What an import produced, and what it could not map: every issue points at file, line, field."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from libs.events.schemas.framework import Framework

# The largest framework file the service takes in one body (an import, a draft replaced at
# once): no cell of a file it took can be longer.
MAX_FILE_BYTES = 16 * 1024 * 1024


class ImportIssue(BaseModel):
    model_config = ConfigDict(frozen=True)

    file: str
    line: int | None = Field(None, description="1-based; None when the issue is the whole file")
    field: str | None = Field(None, description="dotted path of the field in the source")
    severity: Literal["error", "warning"]
    message: str

    def __str__(self) -> str:
        where = self.file + (f":{self.line}" if self.line else "")
        return (
            f"{where}: {self.severity}: "
            + (f"{self.field}: " if self.field else "")
            + (self.message)
        )


class ImportResult(BaseModel):
    """A framework read from one file. `framework` is None when nothing usable was found."""

    model_config = ConfigDict(frozen=True)

    source: str
    format: str
    framework_id: str
    framework: Framework | None
    issues: list[ImportIssue] = Field(default_factory=list)

    @property
    def errors(self) -> list[ImportIssue]:
        return [i for i in self.issues if i.severity == "error"]


class ImportFailed(ValueError):
    """The file cannot be read as a framework at all; `issues` says where and why."""

    def __init__(self, issues: list[ImportIssue]) -> None:
        self.issues = issues
        super().__init__("; ".join(str(i) for i in issues))


def slug(text: str, fallback: str = "item") -> str:
    """A stable key from a human name: 'Comms & Feedback' -> 'comms-feedback'."""
    value = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return value[:80].rstrip("-") or fallback
