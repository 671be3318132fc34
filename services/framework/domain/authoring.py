"""Co-authoring and review of a framework's draft (docs/domain.md §2, Authoring; the rules
in detail: docs/framework.md, Co-authoring and review).

HR invites contributors (managers and senior ICs, each known by their subject) to sections
of the draft: a job family, or a set of competencies. A contributor edits only what their
sections cover. Anyone invited (a contributor, or a reviewer of the open round) comments on
an element of the draft: a competency, one of its anchors, one of its sub-skills or a
sub-skill's anchor, a role profile. HR opens a review round naming 3 to 5 reviewers, who
approve the draft or request changes, each with a comment; publishing needs as many
approvals as the framework's policy asks for, and the published version names who approved.

An approval covers the draft as the reviewer read it: it names the draft's version (the
version of the framework's stream) and counts only while the draft is still at that
version. An edit after it, by anyone, leaves it in the record but no longer counting: what
was approved is not what would be published.

This state lives in a stream of its own beside the framework's (comments and verdicts never
race draft edits); its events are private, as draft edits are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from libs.events.registry import IntegrationEvent, PrivateEvent, registry
from libs.events.schemas.framework import (
    MAX_REVIEWERS,
    TEXT_LIMIT,
    Approval,
    Competency,
    Framework,
    FrameworkPublished,
    Key,
    Revision,
    SubSkill,
)
from services.framework.domain.drafting import (
    FrameworkAggregate,
    FrameworkError,
    UnknownElement,
)
from services.framework.domain.rules import Problem

MIN_REVIEWERS = 3
"""docs/domain.md §2, Authoring: 3 to 5 reviewers approve a draft."""

SECTION_COLLECTIONS = ("families", "competencies", "roles")
"""The draft's collections a contributor's section may cover; the others (categories,
deployment rules, lateral paths, settings) are HR's."""

Subject = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Verdict = Literal["approve", "request_changes"]
Comment = Annotated[
    str,
    StringConstraints(min_length=1, max_length=TEXT_LIMIT, pattern=r"\S"),
    Field(description="what the reviewer or commenter says; not blank"),
]

_KEY = r"[a-z0-9][a-z0-9._-]*"
ELEMENT = re.compile(
    rf"^(?:roles\[(?P<role>{_KEY})\]"
    rf"|competencies\[(?P<competency>{_KEY})\](?:\.sub_skills\[(?P<sub_skill>{_KEY})\])?"
    rf"(?:\.anchors\[(?:(?P<family>{_KEY}):)?(?P<track>ic|manager)/(?P<proficiency>[0-5])\])?)$"
)
ELEMENT_HELP = (
    "an element is named as the diff names it: `competencies[KEY]`, an anchor "
    "`competencies[KEY].anchors[TRACK/LEVEL]` (a family's own wording: "
    "`anchors[FAMILY:TRACK/LEVEL]`), a sub-skill `competencies[KEY].sub_skills[KEY]` and its "
    "anchors `competencies[KEY].sub_skills[KEY].anchors[TRACK/LEVEL]`, or `roles[KEY]`"
)


class Section(BaseModel):
    """Part of a draft a contributor is invited to write: a job family (the family, its role
    profiles and the functional competencies it owns), or a set of competencies."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    family: Key | None = None
    competencies: list[Key] = Field(default_factory=list, max_length=200)

    @model_validator(mode="after")
    def _one_kind(self) -> Section:
        if (self.family is None) == (not self.competencies):
            raise ValueError(
                "a section is a job family (`family`) or a set of competencies "
                "(`competencies`): give one of them"
            )
        return self

    def __str__(self) -> str:
        if self.family is not None:
            return f"family {self.family!r}"
        return f"competencies {sorted(self.competencies)}"


# -- events -----------------------------------------------------------------------------------


class AuthoringEvent(PrivateEvent):
    context = "framework"
    schema_version = 1


@registry.event
class ContributorInvited(AuthoringEvent):
    """HR invited a contributor to a section of the draft."""

    event_type = "FrameworkContributorInvited"
    contributor: Subject
    section: Section


@registry.event
class DraftElementCommented(AuthoringEvent):
    """Someone invited (or HR) commented on an element of the draft."""

    event_type = "FrameworkDraftCommented"
    author: Subject
    element: str = Field(max_length=300, description="the element, as the diff names it")
    text: Comment
    draft_version: int = Field(ge=0, description="the draft's version the comment was made on")


@registry.event
class ReviewRoundOpened(AuthoringEvent):
    """HR opened a review round; it replaces any round still open."""

    event_type = "FrameworkReviewRoundOpened"
    round: int = Field(ge=1)
    reviewers: list[Subject] = Field(min_length=MIN_REVIEWERS, max_length=MAX_REVIEWERS)
    draft_version: int = Field(ge=0)


@registry.event
class ReviewVerdictGiven(AuthoringEvent):
    """A reviewer approved the draft at `draft_version`, or asked for changes."""

    event_type = "FrameworkReviewVerdictGiven"
    round: int = Field(ge=1)
    reviewer: Subject
    verdict: Verdict
    comment: Comment
    draft_version: int = Field(ge=0)
    given_at: datetime


@registry.event
class ReviewRoundClosed(AuthoringEvent):
    """The round ended with the publication of `version`, with these approvals."""

    event_type = "FrameworkReviewRoundClosed"
    round: int = Field(ge=1)
    version: int = Field(ge=1)
    approvals: list[Approval]


# -- refusals ---------------------------------------------------------------------------------


class AuthoringError(FrameworkError):
    """A co-authoring or review command the draft's state or the caller's invitation does not
    allow; `body` holds what the answer says beyond the message."""

    def __init__(self, message: str, **body: object) -> None:
        super().__init__(message)
        self.body = body


class NotInvited(AuthoringError):
    pass


class OutsideSection(AuthoringError):
    """An edit outside the contributor's sections; `section` names the one it is in."""

    def __init__(
        self, contributor: str, element: str, section: str, sections: list[Section]
    ) -> None:
        theirs = [str(s) for s in sections]
        super().__init__(
            f"{contributor!r} may edit only their sections of the draft "
            f"({'; '.join(theirs) or 'none'}); {element} is in {section}: "
            "HR invites contributors to sections",
            section=section,
            your_sections=theirs,
        )


class NoReviewRound(AuthoringError):
    pass


class StaleDraft(AuthoringError):
    pass


class ApprovalsMissing(AuthoringError):
    """Too few approvals to publish; the answer names each reviewer who has not approved
    the draft as it stands, and why."""

    def __init__(self, framework_id: str, required: int, review: ReviewStatus | None) -> None:
        approved = review.approved if review else []
        missing = review.not_approved if review else []
        if review is None:
            why = (
                f"no review round is open: open one naming {MIN_REVIEWERS} to "
                f"{MAX_REVIEWERS} reviewers"
            )
        else:
            who = ", ".join(f"{m.reviewer} ({m.status.replace('_', ' ')})" for m in missing)
            why = f"{len(approved)} approved the draft as it stands; not approved: {who}"
        super().__init__(
            f"framework {framework_id!r} needs {required} approvals of its draft to be "
            f"published; {why}",
            approvals_required=required,
            approved_by=approved,
            not_approved=[m.model_dump() for m in missing],
        )


# -- state ------------------------------------------------------------------------------------


class ReviewerStatus(BaseModel):
    reviewer: str
    status: Literal["approved", "approved_earlier_draft", "changes_requested", "pending"]
    draft_version: int | None = Field(None, description="the draft's version they judged")
    comment: str | None = None


class ReviewStatus(BaseModel):
    round: int
    draft_version: int = Field(description="the draft's version now")
    approvals_required: int = Field(description="what the draft's policy asks for")
    reviewers: list[ReviewerStatus]

    @property
    def approved(self) -> list[str]:
        return [r.reviewer for r in self.reviewers if r.status == "approved"]

    @property
    def not_approved(self) -> list[ReviewerStatus]:
        return [r for r in self.reviewers if r.status != "approved"]


@dataclass
class DraftAuthoring:
    """Who may write which section of a framework's draft, its comments and its review."""

    framework_id: str
    stream_version: int = 0
    sections: dict[str, list[Section]] = field(default_factory=dict)
    comments: list[tuple[int, DraftElementCommented]] = field(default_factory=list)
    round: ReviewRoundOpened | None = None
    rounds: int = 0
    verdicts: dict[str, ReviewVerdictGiven] = field(default_factory=dict)

    def apply(self, event: AuthoringEvent, stream_version: int) -> None:
        self.stream_version = stream_version
        if isinstance(event, ContributorInvited):
            held = self.sections.setdefault(event.contributor, [])
            if event.section not in held:
                held.append(event.section)
        elif isinstance(event, DraftElementCommented):
            self.comments.append((stream_version, event))
        elif isinstance(event, ReviewRoundOpened):
            self.round, self.rounds, self.verdicts = event, event.round, {}
        elif isinstance(event, ReviewVerdictGiven):
            self.verdicts[event.reviewer] = event
        elif isinstance(event, ReviewRoundClosed):
            self.round, self.verdicts = None, {}

    # -- who is invited -------------------------------------------------------------------

    def is_invited(self, subject: str) -> bool:
        """A contributor to some section, or a reviewer of the open round."""
        reviewers = self.round.reviewers if self.round else []
        return subject in self.sections or subject in reviewers

    def require_invited(self, subject: str) -> None:
        if not self.is_invited(subject):
            raise NotInvited(
                f"{subject!r} is not invited to the draft of framework {self.framework_id!r}: "
                "HR invites contributors to a section, or names them reviewers of a round"
            )

    def check_edit(
        self,
        contributor: str,
        collection: str,
        key: str,
        element: BaseModel | None,
        draft: Framework,
    ) -> None:
        """Refuse (403) an edit of `collection[key]` (`element`: its new definition, None
        when removed) that the contributor's sections do not cover, naming its section."""
        self.require_invited(contributor)
        sections = self.sections.get(contributor, [])
        families = {s.family for s in sections if s.family}
        competencies = {k for s in sections for k in s.competencies}
        owners = _families_of(collection, key, element, draft)
        if collection == "competencies" and key in competencies:
            return
        if (
            element is None
            and collection in SECTION_COLLECTIONS
            and not _exists(collection, key, draft)
        ):
            return  # nothing there to remove: the removal answers that (404)
        outside = [f for f in owners if f not in families]
        if owners and not outside:
            return
        section = (
            f"family {outside[0]!r}"
            if outside
            else f"competency {key!r}"
            if collection == "competencies"
            else f"HR's part of the draft ({collection})"
        )
        raise OutsideSection(contributor, f"{collection}[{key}]", section, sections)

    # -- commands -------------------------------------------------------------------------

    def invite(self, contributor: str, section: Section, draft: Framework) -> list[AuthoringEvent]:
        if section.family is not None and draft.family(section.family) is None:
            raise UnknownElement(f"the draft has no family {section.family!r}")
        unknown = sorted(k for k in section.competencies if draft.competency(k) is None)
        if unknown:
            raise UnknownElement(f"the draft has no competencies {unknown}")
        return [ContributorInvited(contributor=contributor, section=section)]

    def comment(
        self, author: str, element: str, text: str, draft: Framework, draft_version: int
    ) -> list[AuthoringEvent]:
        """`author` is HR or someone invited (the caller checks HR; here the invitation)."""
        _find(element, draft)
        return [
            DraftElementCommented(
                author=author, element=element, text=text, draft_version=draft_version
            )
        ]

    def open_round(
        self, reviewers: list[str], required: int, draft_version: int
    ) -> list[AuthoringEvent]:
        if repeated := sorted({r for r in reviewers if reviewers.count(r) > 1}):
            raise AuthoringError(f"a review round names each reviewer once; repeated: {repeated}")
        if not MIN_REVIEWERS <= len(reviewers) <= MAX_REVIEWERS:
            raise AuthoringError(
                f"a review round names {MIN_REVIEWERS} to {MAX_REVIEWERS} reviewers; "
                f"{len(reviewers)} named"
            )
        if len(reviewers) < required:
            raise AuthoringError(
                f"the framework's policy asks for {required} approvals: name at least "
                f"{required} reviewers ({len(reviewers)} named)"
            )
        return [
            ReviewRoundOpened(
                round=self.rounds + 1, reviewers=reviewers, draft_version=draft_version
            )
        ]

    def give_verdict(
        self,
        reviewer: str,
        verdict: Verdict,
        comment: str,
        read_version: int,
        draft_version: int,
        now: datetime,
    ) -> list[AuthoringEvent]:
        """`read_version`: the draft's version the reviewer read and judges; it must still be
        the draft's version (`draft_version`), so that a verdict never covers an unread edit."""
        opened = self._open_round()
        if reviewer not in opened.reviewers:
            raise NotInvited(
                f"{reviewer!r} is not a reviewer of round {opened.round} of framework "
                f"{self.framework_id!r}: HR names the reviewers of a round"
            )
        if read_version != draft_version:
            raise StaleDraft(
                f"the draft changed since version {read_version}: it is at version "
                f"{draft_version}; read it again and judge what it says now"
            )
        return [
            ReviewVerdictGiven(
                round=opened.round,
                reviewer=reviewer,
                verdict=verdict,
                comment=comment,
                draft_version=draft_version,
                given_at=now,
            )
        ]

    def review(self, draft: Framework, draft_version: int) -> ReviewStatus:
        """The open round, each reviewer's verdict read against the draft as it now stands
        (at `draft_version`)."""
        opened = self._open_round()
        return ReviewStatus(
            round=opened.round,
            draft_version=draft_version,
            approvals_required=draft.policy.approvals_required,
            reviewers=[self._status(r, draft_version) for r in opened.reviewers],
        )

    def approvals(self, draft: Framework, draft_version: int) -> list[Approval]:
        """The approvals that cover `draft` (at `draft_version`), in the order the round
        names its reviewers; ApprovalsMissing (naming who has not approved) when fewer than
        its policy asks for."""
        required = draft.policy.approvals_required
        review = self.review(draft, draft_version) if self.round else None
        approved = review.approved if review else []
        if len(approved) < required:
            raise ApprovalsMissing(self.framework_id, required, review)
        return [Approval(reviewer=r, approved_at=self.verdicts[r].given_at) for r in approved]

    def closing(self, version: int, approvals: list[Approval]) -> list[AuthoringEvent]:
        """The round ends with the publication; nothing to record without a round."""
        if self.round is None:
            return []
        return [ReviewRoundClosed(round=self.round.round, version=version, approvals=approvals)]

    def _status(self, reviewer: str, draft_version: int) -> ReviewerStatus:
        given = self.verdicts.get(reviewer)
        if given is None:
            return ReviewerStatus(reviewer=reviewer, status="pending")
        status: Literal["approved", "approved_earlier_draft", "changes_requested"] = (
            "changes_requested"
            if given.verdict == "request_changes"
            else "approved"
            if given.draft_version == draft_version
            else "approved_earlier_draft"
        )
        return ReviewerStatus(
            reviewer=reviewer,
            status=status,
            draft_version=given.draft_version,
            comment=given.comment,
        )

    def _open_round(self) -> ReviewRoundOpened:
        if self.round is None:
            raise NoReviewRound(
                f"framework {self.framework_id!r} has no review round open: HR opens one"
            )
        return self.round


def publish(
    framework: FrameworkAggregate,
    authoring: DraftAuthoring,
    now: datetime,
    requested: Revision | None = None,
) -> tuple[list[IntegrationEvent], list[AuthoringEvent], list[Problem]]:
    """Publishing the draft: the framework's events (the version names who approved), the
    events closing the review round, and the warnings. The publication rules are checked
    first (PublicationRefused, every problem), then the approvals the draft's policy asks
    for (ApprovalsMissing, naming who has not approved)."""
    events, problems = framework.publish(now, requested)
    published = events[0]
    assert isinstance(published, FrameworkPublished)
    approvals = authoring.approvals(published.framework, framework.stream_version)
    events[0] = published.model_copy(update={"approvals": approvals})
    return events, authoring.closing(published.version, approvals), problems


def _families_of(
    collection: str, key: str, element: BaseModel | None, draft: Framework
) -> list[str]:
    """The families an element belongs to, as it stands and as the edit leaves it (a role
    moved between families belongs to both). Empty when no family holds it: a competency
    no family owns, or a collection no section covers."""
    if collection == "families":
        return [key]
    before: BaseModel | None
    if collection == "roles":
        before = draft.role(key)
    elif collection == "competencies":
        before = draft.competency(key)
    else:
        return []
    owners = [getattr(e, "family", None) for e in (before, element) if e is not None]
    if None in owners:
        return []
    return list(dict.fromkeys(f for f in owners if f is not None))


def _exists(collection: str, key: str, draft: Framework) -> bool:
    found = {"families": draft.family, "competencies": draft.competency, "roles": draft.role}
    return found[collection](key) is not None


def _find(element: str, draft: Framework) -> None:
    """Refuse a comment on an element the draft does not have (404) or cannot name (422)."""
    found = ELEMENT.fullmatch(element)
    if found is None:
        raise AuthoringError(f"{element!r} names no element: {ELEMENT_HELP}")
    if role := found["role"]:
        if draft.role(role) is None:
            raise UnknownElement(f"the draft has no role {role!r}")
        return
    competency = draft.competency(found["competency"])
    if competency is None:
        raise UnknownElement(f"the draft has no competency {found['competency']!r}")
    owner: Competency | SubSkill = competency
    whose = f"competency {competency.key!r}"
    if (key := found["sub_skill"]) is not None:
        skill = competency.sub_skill(key)
        if skill is None:
            raise UnknownElement(f"competency {competency.key!r} has no sub-skill {key!r}")
        owner, whose = skill, f"sub-skill '{competency.key}/{key}'"
    if found["track"] is None:
        return
    track, proficiency, family = found["track"], int(found["proficiency"]), found["family"]
    if not any(
        a.track == track and a.proficiency == proficiency and a.family == family
        for a in owner.anchors
    ):
        raise UnknownElement(f"{whose} has no anchor {element!r}")
