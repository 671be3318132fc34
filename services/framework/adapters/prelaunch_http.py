"""HTTP API of calibration before launch (docs/framework.md, Calibration before launch).

`hr_admin` opens an exercise on a draft, follows it, closes it and reads its report. Raters
(managers and senior ICs, so the `manager` or `employee` role) see the exercise only if it
invites them (403 otherwise), and then only the examples, the anchors and their own ratings:
never who wrote an example, who else rates, or what others rated.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, FastAPI, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints

from libs.events.schemas.framework import Anchor, Key, TrackKind
from libs.platform.auth import HrAdmin
from services.framework.adapters.http import FRAMEWORK_ID, KEY, FrameworkId, one_of
from services.framework.application.prelaunch_calibrations import PrelaunchCalibrations
from services.framework.domain.prelaunch_calibration import (
    CANNOT_TELL,
    MIN_RATERS,
    AnchorAgreement,
    AnchorScale,
    CalibrationError,
    CalibrationReport,
    CompetencyAgreement,
    Example,
    ExerciseClosed,
    ExerciseExists,
    ExerciseOpen,
    NotInvited,
    PrelaunchCalibration,
    Rating,
    UnknownExample,
    UnknownExercise,
)

router = APIRouter(prefix="/frameworks/{framework_id}/prelaunch-calibrations", tags=["calibration"])
ExerciseId = Annotated[str, Path(pattern=FRAMEWORK_ID, description="the exercise's id")]
ExampleKey = Annotated[str, Path(pattern=f"^{KEY}$", description="the example's key")]
RATER_ROLES = ("manager", "employee")

STATUS: dict[type[CalibrationError], int] = {
    UnknownExercise: 404,
    UnknownExample: 404,
    NotInvited: 403,
    ExerciseExists: 409,
    ExerciseClosed: 409,
    ExerciseOpen: 409,
}


# Managers and ICs rate (whether this exercise invites them is the exercise's to say).
Rater = one_of(RATER_ROLES, "rating")


def _exercises(request: Request) -> PrelaunchCalibrations:
    return request.app.state.prelaunch_calibrations


class NewExercise(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=FRAMEWORK_ID)
    examples: list[Example] = Field(min_length=1, max_length=500)
    raters: list[Annotated[str, StringConstraints(min_length=1, max_length=200)]] = Field(
        min_length=MIN_RATERS, max_length=50, description="employee ids of managers or senior ICs"
    )


class RatingBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Strict: JSON `true` is not level 1.
    rating: StrictInt | Literal["cannot_tell"] = Field(
        description=f"an anchored level of the example, or {CANNOT_TELL!r}"
    )


class ExerciseView(BaseModel):
    """The exercise as HR follows it: how far each rater is, not what they rated."""

    framework_id: str
    exercise_id: str
    draft_version: int
    status: Literal["open", "closed"]
    closed_at: datetime | None
    examples: list[Example]
    scales: list[AnchorScale]
    rated: dict[str, int] = Field(description="rater -> examples they have rated")


class RaterExample(BaseModel):
    key: str
    competency: Key
    competency_name: str
    sub_skill: Key | None = Field(description="the sub-skill it is aimed at, if one")
    sub_skill_name: str | None
    track: TrackKind
    level: str | None
    text: str
    anchors: list[Anchor] = Field(description="what each level looks like, to rate against")
    your_rating: Rating | None


class RaterView(BaseModel):
    """What one invited rater sees: the examples, the anchors and their own ratings."""

    framework_id: str
    exercise_id: str
    status: Literal["open", "closed"]
    examples: list[RaterExample]


class ReportView(BaseModel):
    framework_id: str
    exercise_id: str
    competencies: list[CompetencyAgreement]
    anchors: list[AnchorAgreement] = Field(description="every anchor an example landed on")
    flagged: list[AnchorAgreement] = Field(description="the anchors to reword, with why")


def _report(framework_id: str, exercise_id: str, report: CalibrationReport) -> ReportView:
    return ReportView(
        framework_id=framework_id,
        exercise_id=exercise_id,
        competencies=report.competencies,
        anchors=report.anchors,
        flagged=report.flagged,
    )


def _status(exercise: PrelaunchCalibration) -> Literal["open", "closed"]:
    return "closed" if exercise.closed else "open"


def _hr_view(exercise: PrelaunchCalibration) -> ExerciseView:
    opened = exercise.state
    return ExerciseView(
        framework_id=exercise.framework_id,
        exercise_id=exercise.exercise_id,
        draft_version=opened.draft_version,
        status=_status(exercise),
        closed_at=exercise.closed.closed_at if exercise.closed else None,
        examples=opened.examples,
        scales=opened.scales,
        rated={r: len(exercise.ratings_by(r)) for r in opened.raters},
    )


def _rater_example(exercise: PrelaunchCalibration, example: Example, rater: str) -> RaterExample:
    scale = exercise.scale_of(example)
    return RaterExample(
        key=example.key,
        competency=example.competency,
        competency_name=scale.name,
        sub_skill=scale.sub_skill,
        sub_skill_name=scale.sub_skill_name,
        track=scale.track,
        level=example.level,
        text=example.text,
        anchors=scale.anchors,
        your_rating=exercise.ratings_by(rater).get(example.key),
    )


@router.post("", status_code=201, response_model=ExerciseView)
async def open_exercise(
    framework_id: FrameworkId, body: NewExercise, actor: HrAdmin, request: Request
) -> ExerciseView:
    """Open a calibration of the draft's anchors: examples to rate and 3+ raters to rate them.
    The anchors are taken from the draft as it stands now."""
    exercise = await _exercises(request).open(
        framework_id, body.id, actor.subject, body.examples, body.raters
    )
    return _hr_view(exercise)


@router.get("/{exercise_id}", response_model=ExerciseView)
async def get_exercise(
    framework_id: FrameworkId, exercise_id: ExerciseId, actor: HrAdmin, request: Request
) -> ExerciseView:
    """The exercise and how many examples each rater has rated (hr_admin)."""
    return _hr_view(await _exercises(request).exercise(framework_id, exercise_id))


@router.post("/{exercise_id}/close", response_model=ReportView)
async def close_exercise(
    framework_id: FrameworkId, exercise_id: ExerciseId, actor: HrAdmin, request: Request
) -> ReportView:
    """Close the exercise (no more ratings) and compute its report."""
    report = await _exercises(request).close(framework_id, exercise_id, actor.subject)
    return _report(framework_id, exercise_id, report)


@router.get("/{exercise_id}/report", response_model=ReportView)
async def exercise_report(
    framework_id: FrameworkId, exercise_id: ExerciseId, actor: HrAdmin, request: Request
) -> ReportView:
    """Agreement per competency (alpha or spread) and per anchor, with the flagged anchors
    and why; 409 while the exercise is open."""
    report = await _exercises(request).report(framework_id, exercise_id)
    return _report(framework_id, exercise_id, report)


@router.get("/{exercise_id}/examples", response_model=RaterView)
async def rater_examples(
    framework_id: FrameworkId, exercise_id: ExerciseId, actor: Rater, request: Request
) -> RaterView:
    """The examples to rate, with their anchors and the caller's own ratings (invited
    raters only)."""
    exercise = await _exercises(request).exercise(framework_id, exercise_id)
    opened = exercise.invited(actor.subject)
    return RaterView(
        framework_id=framework_id,
        exercise_id=exercise_id,
        status=_status(exercise),
        examples=[_rater_example(exercise, e, actor.subject) for e in opened.examples],
    )


@router.put("/{exercise_id}/examples/{example}/rating", response_model=RaterExample)
async def rate_example(
    framework_id: FrameworkId,
    exercise_id: ExerciseId,
    example: ExampleKey,
    body: RatingBody,
    actor: Rater,
    request: Request,
) -> RaterExample:
    """Rate an example (or revise the caller's rating) until the exercise closes."""
    exercise = await _exercises(request).rate(
        framework_id, exercise_id, actor.subject, example, body.rating
    )
    return _rater_example(exercise, exercise.example(example), actor.subject)


def install(api: FastAPI) -> None:
    """Mount the routes; the exercise's refusals answer with their own statuses (422 for
    what to fix in the request), the framework's errors as `http.install` maps them."""
    api.include_router(router)

    @api.exception_handler(CalibrationError)
    async def _refused(_: Request, error: CalibrationError) -> JSONResponse:
        return JSONResponse(
            status_code=STATUS.get(type(error), 422), content={"detail": str(error)}
        )
