"""HTTP API of co-authoring and review of a framework's draft (docs/framework.md,
Co-authoring and review).

`hr_admin` invites contributors to sections and opens review rounds. Managers and employees
read the draft and comment on it when invited (a contributor, or a reviewer of the open
round), edit what their sections cover (the element routes of `http.py`), and give their
verdict when the open round names them; anyone else is refused (403).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from libs.platform.auth import HrAdmin
from libs.platform.pagination import Page, Paged
from services.framework.adapters.http import Author, FrameworkId, one_of
from services.framework.application.authoring import Authoring
from services.framework.domain.authoring import (
    ELEMENT_HELP,
    MIN_REVIEWERS,
    ApprovalsMissing,
    AuthoringError,
    Comment,
    DraftElementCommented,
    NoReviewRound,
    NotInvited,
    OutsideSection,
    ReviewerStatus,
    ReviewStatus,
    Section,
    StaleDraft,
    Subject,
    Verdict,
)

router = APIRouter(prefix="/frameworks/{framework_id}/draft", tags=["authoring"])
REVIEWER_ROLES = ("manager", "employee")

STATUS: dict[type[AuthoringError], int] = {
    NotInvited: 403,
    OutsideSection: 403,
    NoReviewRound: 404,
    StaleDraft: 409,
    ApprovalsMissing: 409,
}


# Managers and ICs review (whether the round names them is the round's to say).
Reviewer = one_of(REVIEWER_ROLES, "a verdict")


def _authoring(request: Request) -> Authoring:
    return request.app.state.authoring


class Invitation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    contributor: Subject = Field(description="the subject (employee id) of the contributor")
    section: Section


class ContributorView(BaseModel):
    contributor: str
    sections: list[Section]


class NewComment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    element: Annotated[str, StringConstraints(min_length=1, max_length=300)] = Field(
        description=ELEMENT_HELP
    )
    text: Comment


class CommentView(BaseModel):
    number: int = Field(
        description="its place in the record of the draft's authoring: rising, not consecutive"
    )
    element: str
    author: str
    text: str
    draft_version: int = Field(description="the draft's version it was made on")


class NewRound(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # The domain says how many a round names (422 saying so); this only caps the body.
    reviewers: list[Subject] = Field(
        max_length=50, description=f"{MIN_REVIEWERS} to 5 subjects of managers or senior ICs"
    )


class VerdictBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    verdict: Verdict
    comment: Comment
    draft_version: int = Field(
        ge=0, description="the draft's `stream_version` the reviewer read and judges"
    )


class ReviewView(BaseModel):
    framework_id: str
    round: int
    draft_version: int = Field(description="the draft's version now")
    approvals_required: int = Field(description="what the draft's policy asks for")
    reviewers: list[ReviewerStatus]
    approved_by: list[str] = Field(description="approvals of the draft as it stands")
    not_approved: list[str]


def _review_view(framework_id: str, review: ReviewStatus) -> ReviewView:
    return ReviewView(
        framework_id=framework_id,
        round=review.round,
        draft_version=review.draft_version,
        approvals_required=review.approvals_required,
        reviewers=review.reviewers,
        approved_by=review.approved,
        not_approved=[r.reviewer for r in review.not_approved],
    )


@router.post("/contributors", status_code=201, response_model=ContributorView)
async def invite_contributor(
    framework_id: FrameworkId, body: Invitation, actor: HrAdmin, request: Request
) -> ContributorView:
    """Invite a contributor to a section of the draft: a job family (the family, its role
    profiles, the functional competencies it owns) or a set of competencies."""
    authoring = await _authoring(request).invite(
        framework_id, actor.subject, body.contributor, body.section
    )
    return ContributorView(
        contributor=body.contributor, sections=authoring.sections[body.contributor]
    )


@router.get("/contributors", response_model=Page[ContributorView])
async def contributors(
    framework_id: FrameworkId, actor: HrAdmin, page: Paged, request: Request
) -> Page[ContributorView]:
    """Who is invited to which sections of the draft, in the order first invited (hr_admin)."""
    _, authoring = await _authoring(request).state(framework_id)
    invited = [ContributorView(contributor=c, sections=s) for c, s in authoring.sections.items()]
    return page.of(invited, key=lambda c: c.contributor)


@router.post("/comments", status_code=201, response_model=CommentView)
async def comment(
    framework_id: FrameworkId, body: NewComment, actor: Author, request: Request
) -> CommentView:
    """Comment on a competency, an anchor or a role profile of the draft (HR, and anyone
    invited to the draft)."""
    number, made = await _authoring(request).comment(
        framework_id, actor.subject, actor.has("hr_admin"), body.element, body.text
    )
    return _comment(number, made)


@router.get("/comments", response_model=Page[CommentView])
async def comments(
    framework_id: FrameworkId, actor: Author, page: Paged, request: Request
) -> Page[CommentView]:
    """The draft's comments, oldest first, with who made them (HR, and anyone invited)."""
    found = await _authoring(request).comments(framework_id, actor.subject, actor.has("hr_admin"))
    return page.of([_comment(n, c) for n, c in found], key=lambda c: c.number)


@router.post("/review-rounds", status_code=201, response_model=ReviewView)
async def open_review_round(
    framework_id: FrameworkId, body: NewRound, actor: HrAdmin, request: Request
) -> ReviewView:
    """Open a review round naming 3 to 5 reviewers (422 otherwise); it replaces a round
    still open, whose verdicts no longer count."""
    review = await _authoring(request).open_round(framework_id, actor.subject, body.reviewers)
    return _review_view(framework_id, review)


@router.get("/review", response_model=ReviewView)
async def review(framework_id: FrameworkId, actor: Author, request: Request) -> ReviewView:
    """The open round: each reviewer's verdict read against the draft as it stands (an
    approval of an earlier draft no longer counts), and who has not approved."""
    found = await _authoring(request).review(framework_id, actor.subject, actor.has("hr_admin"))
    return _review_view(framework_id, found)


@router.post("/review/verdicts", status_code=201, response_model=ReviewView)
async def give_verdict(
    framework_id: FrameworkId, body: VerdictBody, actor: Reviewer, request: Request
) -> ReviewView:
    """Approve the draft at the version read, or request changes; a comment either way. A
    reviewer's later verdict replaces their earlier one; a draft changed since the version
    read is refused (409): read it again."""
    found = await _authoring(request).give_verdict(
        framework_id, actor.subject, body.verdict, body.comment, body.draft_version
    )
    return _review_view(framework_id, found)


def _comment(number: int, made: DraftElementCommented) -> CommentView:
    return CommentView(
        number=number,
        element=made.element,
        author=made.author,
        text=made.text,
        draft_version=made.draft_version,
    )


def install(api: FastAPI) -> None:
    """Mount the routes; refusals answer with their own statuses (422 for what to fix in the
    request), with what they name beyond the message (the section an edit is in, who has
    not approved)."""
    api.include_router(router)

    @api.exception_handler(AuthoringError)
    async def _refused(_: Request, error: AuthoringError) -> JSONResponse:
        return JSONResponse(
            status_code=STATUS.get(type(error), 422),
            content={"detail": str(error), **error.body},
        )
