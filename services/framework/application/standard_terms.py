"""Competencies by standard term across the published frameworks, and two published
versions mapped to each other (docs/framework.md, Standard terms)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from libs.events.ports import UnitOfWork
from services.framework.application.ports import PublishedVersion, Work
from services.framework.domain.drafting import FrameworkError
from services.framework.domain.standard_terms import TermMapping, map_by_standard_term, with_term


class UnknownVersion(FrameworkError):
    """A framework, or a version of one, that was never published."""


class TermFound(BaseModel):
    """A competency of a framework's latest published version mapped to the term asked for."""

    model_config = ConfigDict(frozen=True)

    framework_id: str
    version: int
    taxonomy: str | None = Field(description="the taxonomy the framework's terms come from")
    competency: str = Field(description="the competency's key")
    name: str = Field(description="the organisation's own term")
    standard_term: str = Field(description="as the framework writes it")


class Side(BaseModel):
    model_config = ConfigDict(frozen=True)

    framework_id: str
    version: int
    taxonomy: str | None


class FrameworkMapping(TermMapping):
    left_framework: Side
    right_framework: Side


class StandardTerms:
    def __init__(self, unit_of_work: UnitOfWork[Work]) -> None:
        self.unit_of_work = unit_of_work

    async def lookup(self, term: str) -> list[TermFound]:
        """Every competency mapped to `term` in each framework's latest published version,
        by framework id, then in the framework's order."""
        found: list[TermFound] = []
        async with self.unit_of_work.reading() as work:
            latest = sorted(await work.versions.latest_of_each(), key=lambda v: v.framework_id)
            for summary in latest:
                published = await work.versions.find(summary.framework_id, summary.version)
                assert published is not None, "a version listed is a version kept"
                found += [
                    TermFound(
                        framework_id=published.framework_id,
                        version=published.version,
                        taxonomy=published.framework.taxonomy,
                        competency=c.key,
                        name=c.name,
                        standard_term=c.standard_term or term,
                    )
                    for c in with_term(published.framework, term)
                ]
        return found

    async def mapping(
        self,
        left: str,
        left_version: int | None,
        right: str,
        right_version: int | None,
    ) -> FrameworkMapping:
        """Two published versions (the latest of each, unless numbered) mapped by term."""
        async with self.unit_of_work.reading() as work:
            before = await _published(work, left, left_version)
            after = await _published(work, right, right_version)
        mapped = map_by_standard_term(before.framework, after.framework)
        return FrameworkMapping(
            **mapped.model_dump(),
            left_framework=_side(before),
            right_framework=_side(after),
        )


async def _published(work: Work, framework_id: str, version: int | None) -> PublishedVersion:
    found = await work.versions.find(framework_id, version)
    if found is None:
        which = f"version {version}" if version else "a published version"
        raise UnknownVersion(f"framework {framework_id!r} has no {which}")
    return found


def _side(published: PublishedVersion) -> Side:
    return Side(
        framework_id=published.framework_id,
        version=published.version,
        taxonomy=published.framework.taxonomy,
    )
