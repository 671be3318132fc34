"""Edits to a framework's draft: facts in the framework service's own log, never published.

Drafts are visible to HR administrators and to those they invite (docs/domain.md §2,
Versions; Authoring), so these are private events: the outbox relay skips them. What other
contexts see is `FrameworkPublished` and `RoleProfileChanged`, at publication.

Each "defined" event carries the whole element (created or replaced); each "removed" event
its identity. Their `collection` names the list of the framework document they edit.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, Field

from libs.events.registry import PrivateEvent, registry
from libs.events.schemas.framework import (
    Competency,
    CompetencyCategory,
    DeploymentRule,
    Framework,
    Granularity,
    JobFamily,
    Key,
    LateralPath,
    Policy,
    RoleProfile,
    Scale,
    Text,
)


class DraftEvent(PrivateEvent):
    context = "framework"
    schema_version = 1


class ElementDefined(DraftEvent):
    collection: ClassVar[str]
    definition: BaseModel


class ElementRemoved(DraftEvent):
    collection: ClassVar[str]
    key: str = Field(description="identity of the element in its collection")


@registry.event
class DraftStarted(DraftEvent):
    """A new framework, empty but for its name and its policy."""

    event_type = "FrameworkDraftStarted"
    name: str
    # Frameworks started before review rounds existed asked for no approvals: the default.
    policy: Policy = Policy()


@registry.event
class DraftReplaced(DraftEvent):
    """The whole draft replaced, as by an import; `source` says from what."""

    event_type = "FrameworkDraftReplaced"
    framework: Framework
    source: str | None = None


@registry.event
class DraftSettingsChanged(DraftEvent):
    """The framework-wide settings, all of them as they now stand."""

    event_type = "FrameworkSettingsChanged"
    name: str = Field(min_length=1, max_length=200)
    description: Text
    scale: Scale
    granularity: Granularity
    taxonomy: str | None = Field(max_length=200)
    # Settings changed before policies existed left the policy at its default.
    policy: Policy = Policy()


@registry.event
class CategoryDefined(ElementDefined):
    event_type = "CompetencyCategoryDefined"
    collection = "categories"
    definition: CompetencyCategory


@registry.event
class CategoryRemoved(ElementRemoved):
    event_type = "CompetencyCategoryRemoved"
    collection = "categories"


@registry.event
class JobFamilyDefined(ElementDefined):
    event_type = "JobFamilyDefined"
    collection = "families"
    definition: JobFamily


@registry.event
class JobFamilyRemoved(ElementRemoved):
    event_type = "JobFamilyRemoved"
    collection = "families"


@registry.event
class LateralPathDefined(ElementDefined):
    event_type = "LateralPathDefined"
    collection = "lateral_paths"
    definition: LateralPath


@registry.event
class LateralPathRemoved(ElementRemoved):
    event_type = "LateralPathRemoved"
    collection = "lateral_paths"


@registry.event
class CompetencyDefined(ElementDefined):
    event_type = "CompetencyDefined"
    collection = "competencies"
    definition: Competency


@registry.event
class CompetencyRemoved(ElementRemoved):
    event_type = "CompetencyRemoved"
    collection = "competencies"


@registry.event
class RoleProfileDefined(ElementDefined):
    event_type = "RoleProfileDefined"
    collection = "roles"
    definition: RoleProfile


@registry.event
class RoleProfileRemoved(ElementRemoved):
    event_type = "RoleProfileRemoved"
    collection = "roles"


@registry.event
class DeploymentRuleDefined(ElementDefined):
    event_type = "DeploymentRuleDefined"
    collection = "rules"
    definition: DeploymentRule


@registry.event
class DeploymentRuleRemoved(ElementRemoved):
    event_type = "DeploymentRuleRemoved"
    collection = "rules"


@registry.event
class CompetencyPushed(DraftEvent):
    """A one-time assignment of a competency to the roles named; no standing rule remains."""

    event_type = "CompetencyPushed"
    competency: Key
    target: int | None
    roles: list[Key]


DEFINED: dict[str, type[ElementDefined]] = {
    e.collection: e
    for e in (
        CategoryDefined,
        JobFamilyDefined,
        LateralPathDefined,
        CompetencyDefined,
        RoleProfileDefined,
        DeploymentRuleDefined,
    )
}
REMOVED: dict[str, type[ElementRemoved]] = {
    e.collection: e
    for e in (
        CategoryRemoved,
        JobFamilyRemoved,
        LateralPathRemoved,
        CompetencyRemoved,
        RoleProfileRemoved,
        DeploymentRuleRemoved,
    )
}
