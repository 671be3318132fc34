"""Submissions (docs/domain.md §3): one per (campaign, subject, rater), rating each item on the
framework's scale or marking it not observed, or not relevant to the subject's role,
revisable until finalised or the campaign closes. A refused submission names every problem
at once, so a rater fixes them in one go.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

from libs.personal.sealing import ERASED, PersonalOf
from services.assessment.domain.questionnaires import Questionnaire
from services.assessment.domain.raters import Assignment

StoredAnswer = tuple[str, int | None, str | None, bool]
"""An answer as the campaign records keep it: (item, value, comment, not relevant)."""


def stored_answer(row: Sequence[Any]) -> StoredAnswer:
    """An answer as stored; rows recorded before "not relevant" existed hold three fields."""
    item, value, comment, *rest = row
    return (item, value, comment, bool(rest and rest[0]))


class SubmissionRefused(ValueError):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("submission refused: " + "; ".join(problems))


class Answer(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    item: str
    value: StrictInt | None = Field(
        description="on the framework's scale; null: not observed, or not relevant"
    )
    # Not the same as not observed: the rater says the competency does not fit the subject's
    # role, which the framework's health report counts per role (docs/framework.md).
    not_relevant: bool = Field(False, description="the item does not fit the subject's role")
    # Stored sealed under the keys of the rater and the subject of the submission holding it
    # (docs/privacy.md): erasing either erases it.
    comment: Annotated[str | None, PersonalOf("rater", "subject")] = Field(None, max_length=2000)

    @model_validator(mode="after")
    def _not_relevant_has_no_value(self) -> Answer:
        if self.not_relevant and self.value is not None:
            raise ValueError(
                f"item {self.item!r} is marked not relevant and rated {self.value}: send one "
                "or the other (a value of null with not_relevant true)"
            )
        return self


class Submission(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    campaign: str
    subject: str
    rater: str
    answers: list[Answer] = Field(min_length=1)
    final: bool = Field(False, description="finalised: no further revision")


def check(
    submission: Submission,
    questionnaire: Questionnaire,
    assignments: Iterable[Assignment],
    *,
    campaign_open: bool,
    finalised: bool,
) -> Assignment:
    """The rater's assignment when the submission may be recorded; else SubmissionRefused."""
    if not campaign_open:
        raise SubmissionRefused([f"campaign {submission.campaign!r} is closed"])
    assignment = next(
        (a for a in assignments if a.subject == submission.subject and a.rater == submission.rater),
        None,
    )
    if assignment is None:
        raise SubmissionRefused(
            [f"{submission.rater!r} is not an assigned rater of {submission.subject!r}"]
        )
    if finalised:
        raise SubmissionRefused(
            [f"{submission.rater!r} has finalised this submission: it can no longer be revised"]
        )
    problems: list[str] = []
    low, high = questionnaire.scale[0], questionnaire.scale[-1]
    for item, count in Counter(a.item for a in submission.answers).items():
        if count > 1:
            problems.append(f"item {item!r} is answered {count} times")
    for answer in submission.answers:
        if questionnaire.item(answer.item) is None:
            problems.append(
                f"unknown item {answer.item!r}: this questionnaire asks about "
                f"{[i.id for i in questionnaire.items]}"
            )
        elif answer.value is not None and not low <= answer.value <= high:
            problems.append(
                f"item {answer.item!r}: {answer.value} is off the scale {low}..{high} "
                "(or null for not observed)"
            )
    if problems:
        raise SubmissionRefused(problems)
    return assignment


def unchanged(previous: Submission | None, submission: Submission) -> bool:
    """The same submission sent again: it changes nothing and records nothing."""
    return previous is not None and previous.model_dump() == submission.model_dump()


def without_comments(answers: Iterable[StoredAnswer]) -> tuple[list[StoredAnswer], int]:
    """The answers with every comment replaced by `ERASED`, and how many
    were (docs/privacy.md, Requests). Values stay: they carry no text of anyone, and the
    results and calibration already computed from them must still add up."""
    kept: list[StoredAnswer] = []
    erased = 0
    for item, value, comment, not_relevant in answers:
        if comment and comment != ERASED:
            comment = ERASED
            erased += 1
        kept.append((item, value, comment, not_relevant))
    return kept, erased
