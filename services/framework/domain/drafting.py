"""The framework aggregate: a draft HR edits and the versions published from it.

State is rebuilt from the framework's stream; commands check against that state and return
the events to append (nothing is applied until the events are stored). Publishing runs every
rule of `rules.py`, finds the revision kind and announces each role whose effective profile
changed, all as one atomic append.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ValidationError

from libs.events.registry import IntegrationEvent
from libs.events.schemas.framework import (
    Framework,
    FrameworkPublished,
    Policy,
    Requirement,
    Revision,
    RoleProfileChanged,
)
from services.framework.domain import rules
from services.framework.domain.events import (
    DEFINED,
    REMOVED,
    CompetencyPushed,
    DraftReplaced,
    DraftSettingsChanged,
    DraftStarted,
    ElementDefined,
    ElementRemoved,
)
from services.framework.domain.profiles import effective_profiles
from services.framework.domain.versions import IDENTITY, choose_revision, diff

NEW_FRAMEWORK_APPROVALS = 3
"""The approvals of a review round a framework started in the service asks for before each
publication (docs/domain.md §2, Authoring: 3 to 5 reviewers approve a draft): the fewest
reviewers a round names. A framework that arrives as a file, or was published before review
rounds existed, asks for what its policy says, 0 when it says nothing (docs/framework.md)."""
APPROVALS = "approvals_required"


class FrameworkError(ValueError):
    """A command the framework's state does not allow; the message says what to do instead."""


class NoDraft(FrameworkError):
    pass


class DraftExists(FrameworkError):
    pass


class UnknownElement(FrameworkError):
    pass


class PublicationRefused(FrameworkError):
    """The draft breaks publication rules; `problems` lists every one (errors and warnings)."""

    def __init__(self, framework_id: str, problems: list[rules.Problem]) -> None:
        self.problems = problems
        failing = rules.errors(problems)
        super().__init__(
            f"framework {framework_id!r} cannot be published: " + "; ".join(str(p) for p in failing)
        )


def identity(collection: str, element: BaseModel) -> str:
    return str(IDENTITY[collection](element.model_dump(mode="json")))


@dataclass
class FrameworkAggregate:
    framework_id: str
    stream_version: int = 0
    draft: Framework | None = None
    latest: FrameworkPublished | None = None

    @property
    def published_versions(self) -> int:
        return self.latest.version if self.latest else 0

    # -- state ---------------------------------------------------------------------------

    def apply(self, event: IntegrationEvent, stream_version: int) -> None:
        self.stream_version = stream_version
        if isinstance(event, RoleProfileChanged):
            return  # announces part of what the FrameworkPublished before it did
        if isinstance(event, DraftStarted):
            self.draft = Framework(name=event.name, policy=event.policy)
        elif isinstance(event, DraftReplaced):
            self.draft = event.framework
        elif isinstance(event, FrameworkPublished):
            self.latest = event
            self.draft = event.framework
        elif self.draft is not None:
            self.draft = _edit(self.draft, event)

    # -- commands --------------------------------------------------------------------------

    def start(self, name: str) -> list[IntegrationEvent]:
        if self.draft is not None:
            raise DraftExists(f"framework {self.framework_id!r} exists already")
        return [DraftStarted(name=name, policy=Policy(approvals_required=NEW_FRAMEWORK_APPROVALS))]

    def replace(self, framework: Framework, source: str | None) -> list[IntegrationEvent]:
        """A document that does not state how many approvals it needs keeps the draft's: a
        file re-imported (a CSV grid holds no policy) never drops the review HR asked for."""
        if APPROVALS not in framework.policy.model_fields_set and self.draft is not None:
            kept = self.draft.policy.approvals_required
            policy = framework.policy.model_copy(update={APPROVALS: kept})
            framework = framework.model_copy(update={"policy": policy})
        return [DraftReplaced(framework=framework, source=source)]

    def change_settings(self, settings: dict[str, Any]) -> list[IntegrationEvent]:
        """Settings checked as the framework checks them, so no edit makes a draft invalid."""
        fields = set(DraftSettingsChanged.model_fields)
        if unknown := sorted(set(settings) - fields):
            raise FrameworkError(f"unknown settings {unknown}; settings are {sorted(fields)}")
        draft = self._draft()
        policy = settings.get("policy")
        if isinstance(policy, dict) and APPROVALS not in policy:
            # Limits left out take their defaults; the review HR asked for stays.
            kept = {**policy, APPROVALS: draft.policy.approvals_required}
            settings = {**settings, "policy": kept}
        try:
            changed = Framework.model_validate({**draft.model_dump(), **settings})
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()
            )
            raise FrameworkError(f"invalid settings: {problems}") from None
        return [DraftSettingsChanged(**changed.model_dump(include=fields))]

    def define(self, collection: str, element: BaseModel) -> list[IntegrationEvent]:
        self._draft()
        return [DEFINED[collection](definition=element)]

    def remove(self, collection: str, key: str) -> list[IntegrationEvent]:
        elements = getattr(self._draft(), collection)
        if not any(identity(collection, e) == key for e in elements):
            raise UnknownElement(f"the draft has no {collection} element {key!r}")
        return [REMOVED[collection](key=key)]

    def push(self, competency: str, target: int | None, roles: list[str]) -> list[IntegrationEvent]:
        draft = self._draft()
        if draft.competency(competency) is None:
            raise UnknownElement(f"the draft has no competency {competency!r}")
        if missing := sorted(set(roles) - {r.key for r in draft.roles}):
            raise UnknownElement(f"the draft has no roles {missing}")
        if not roles:
            raise FrameworkError("a push names at least one role")
        return [CompetencyPushed(competency=competency, target=target, roles=roles)]

    def publish(
        self, now: datetime, requested: Revision | None = None
    ) -> tuple[list[IntegrationEvent], list[rules.Problem]]:
        """The events of publishing the draft as the next version, and the warnings (the
        approvals it needs are checked by `authoring.publish`)."""
        # Revalidated whole: what is published is read back by every consumer, forever.
        draft = Framework.model_validate(self._draft().model_dump())
        after = effective_profiles(draft)
        problems = rules.validate(draft, after)
        previous = self.latest.framework if self.latest else None
        changes = diff(previous, draft) if previous is not None else None
        if changes == []:
            problems.insert(
                0,
                rules.Problem(
                    rule="unchanged",
                    severity="error",
                    message=f"the draft is identical to version {self.published_versions}: "
                    "nothing to publish",
                ),
            )
        if rules.errors(problems):
            raise PublicationRefused(self.framework_id, problems)
        version = self.published_versions + 1
        if self.latest is not None:  # as-of queries need publication instants that only rise
            now = max(now, self.latest.published_at + timedelta(microseconds=1))
        roles: list[IntegrationEvent] = []
        before = effective_profiles(previous) if previous else {}
        for key, profile in after.items():
            if key not in before or before[key] != profile:
                change = "added" if key not in before else "changed"
                roles.append(self._role_changed(version, change, profile))
        for key, profile in before.items():
            if key not in after:
                roles.append(self._role_changed(version, "removed", profile))
        published = FrameworkPublished(
            framework_id=self.framework_id,
            version=version,
            revision=choose_revision(changes, requested),
            published_at=now,
            framework=draft,
            role_changes=len(roles),
        )
        return [published, *roles], problems

    def _role_changed(self, version: int, change: str, profile: Any) -> RoleProfileChanged:
        return RoleProfileChanged(
            framework_id=self.framework_id, version=version, change=change, role=profile
        )

    def _draft(self) -> Framework:
        if self.draft is None:
            raise NoDraft(
                f"framework {self.framework_id!r} does not exist: create it or import one first"
            )
        return self.draft


def _edit(draft: Framework, event: IntegrationEvent) -> Framework:
    if isinstance(event, DraftSettingsChanged):
        return draft.model_copy(update=dict(event))  # the policy stays a model
    if isinstance(event, ElementDefined):
        collection = event.collection
        key = identity(collection, event.definition)
        elements = list(getattr(draft, collection))
        at = next((i for i, e in enumerate(elements) if identity(collection, e) == key), None)
        if at is None:
            elements.append(event.definition)
        else:
            elements[at] = event.definition
        return draft.model_copy(update={collection: elements})
    if isinstance(event, ElementRemoved):
        collection = event.collection
        kept = [e for e in getattr(draft, collection) if identity(collection, e) != event.key]
        return draft.model_copy(update={collection: kept})
    if isinstance(event, CompetencyPushed):
        roles = [
            role.model_copy(update={"requirements": _pushed(role.requirements, event)})
            if role.key in event.roles
            else role
            for role in draft.roles
        ]
        return draft.model_copy(update={"roles": roles})
    raise TypeError(f"not a draft edit: {type(event).__name__}")


def _pushed(requirements: list[Requirement], push: CompetencyPushed) -> list[Requirement]:
    """A push adds the competency where the role lacks it; a role's own entry stays."""
    if any(q.competency == push.competency for q in requirements):
        return requirements
    return [
        *requirements,
        Requirement(competency=push.competency, target=push.target, origin="push"),
    ]
