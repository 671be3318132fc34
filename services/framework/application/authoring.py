"""Co-authoring and review of a framework's draft, as use cases (docs/framework.md,
Co-authoring and review): HR invites contributors to sections and opens review rounds;
contributors edit their sections; anyone invited comments; reviewers give verdicts.

Invitations, comments and verdicts are private events of the framework's authoring stream
(`authoring_stream`), each with its actor; a contributor's edits are the framework's own
draft events, with the contributor as their actor. HR's commands are not checked against
invitations: HR owns the draft.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from pydantic import BaseModel

from libs.events.envelope import EventMetadata
from libs.events.ports import EventLog
from libs.events.registry import IntegrationEvent
from services.framework.application.frameworks import (
    Frameworks,
    authoring_stream,
    load,
    load_authoring,
)
from services.framework.domain.authoring import (
    AuthoringEvent,
    DraftAuthoring,
    DraftElementCommented,
    ReviewStatus,
    Section,
    Verdict,
)
from services.framework.domain.drafting import FrameworkAggregate, NoDraft


class Authoring:
    def __init__(self, events: EventLog, frameworks: Frameworks) -> None:
        self.events = events
        self.frameworks = frameworks

    async def state(self, framework_id: str) -> tuple[FrameworkAggregate, DraftAuthoring]:
        """The framework (NoDraft when it has none) and who is invited to its draft."""
        framework = await load(self.events, framework_id)
        if framework.draft is None:
            raise NoDraft(f"framework {framework_id!r} does not exist: create or import it first")
        return framework, await load_authoring(self.events, framework_id)

    async def readable_by(self, framework_id: str, subject: str) -> FrameworkAggregate:
        """The framework, for someone invited to its draft (NotInvited otherwise)."""
        authoring = await load_authoring(self.events, framework_id)
        authoring.require_invited(subject)
        framework, _ = await self.state(framework_id)
        return framework

    async def edit(
        self,
        framework_id: str,
        contributor: str,
        collection: str,
        key: str,
        element: BaseModel | None,
        command: Callable[[FrameworkAggregate], list[IntegrationEvent]],
    ) -> FrameworkAggregate:
        """A contributor's edit of `collection[key]` (`element`: its new definition, None on
        removal), refused (OutsideSection) unless their sections cover it."""
        authoring = await load_authoring(self.events, framework_id)
        authoring.require_invited(contributor)

        def decide(framework: FrameworkAggregate) -> list[IntegrationEvent]:
            if framework.draft is not None:
                authoring.check_edit(contributor, collection, key, element, framework.draft)
            return command(framework)

        return await self.frameworks.execute(framework_id, contributor, decide)

    async def invite(
        self, framework_id: str, actor: str, contributor: str, section: Section
    ) -> DraftAuthoring:
        framework, authoring = await self.state(framework_id)
        assert framework.draft is not None
        events = authoring.invite(contributor, section, framework.draft)
        return await self._append(authoring, actor, events)

    async def comment(
        self, framework_id: str, author: str, hr: bool, element: str, text: str
    ) -> tuple[int, DraftElementCommented]:
        """A comment by HR (`hr`) or by someone invited to the draft, with its number."""
        framework, authoring = await self.state(framework_id)
        assert framework.draft is not None
        if not hr:
            authoring.require_invited(author)
        events = authoring.comment(author, element, text, framework.draft, framework.stream_version)
        authoring = await self._append(authoring, author, events)
        return authoring.comments[-1]

    async def comments(
        self, framework_id: str, reader: str, hr: bool
    ) -> list[tuple[int, DraftElementCommented]]:
        """Every comment on the draft, oldest first, with its number."""
        _, authoring = await self.state(framework_id)
        if not hr:
            authoring.require_invited(reader)
        return authoring.comments

    async def open_round(self, framework_id: str, actor: str, reviewers: list[str]) -> ReviewStatus:
        framework, authoring = await self.state(framework_id)
        assert framework.draft is not None
        required = framework.draft.policy.approvals_required
        events = authoring.open_round(reviewers, required, framework.stream_version)
        authoring = await self._append(authoring, actor, events)
        return authoring.review(framework.draft, framework.stream_version)

    async def review(self, framework_id: str, reader: str, hr: bool) -> ReviewStatus:
        framework, authoring = await self.state(framework_id)
        assert framework.draft is not None
        if not hr:
            authoring.require_invited(reader)
        return authoring.review(framework.draft, framework.stream_version)

    async def give_verdict(
        self,
        framework_id: str,
        reviewer: str,
        verdict: Verdict,
        comment: str,
        read_version: int,
    ) -> ReviewStatus:
        framework, authoring = await self.state(framework_id)
        events = authoring.give_verdict(
            reviewer, verdict, comment, read_version, framework.stream_version, datetime.now(UTC)
        )
        authoring = await self._append(authoring, reviewer, events)
        assert framework.draft is not None
        return authoring.review(framework.draft, framework.stream_version)

    async def _append(
        self, authoring: DraftAuthoring, actor: str, events: list[AuthoringEvent]
    ) -> DraftAuthoring:
        recorded = await self.events.append(
            authoring_stream(authoring.framework_id),
            authoring.stream_version,
            events,
            EventMetadata(actor=actor),
        )
        for event, envelope in zip(events, recorded, strict=True):
            authoring.apply(event, envelope.stream_version)
        return authoring
