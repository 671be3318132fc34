"""Upkeep use cases (docs/framework.md, Upkeep): record what calibrations found, list the
revision items on the framework's anchors, and report how the framework served a cycle."""

from __future__ import annotations

from libs.events.envelope import Envelope
from libs.events.ports import UnitOfWork
from libs.events.schemas.assessment import AnchorFindingsRecorded
from libs.events.schemas.framework import Framework
from services.framework.application.ports import Work
from services.framework.domain.upkeep import HealthReport, RevisionItem, health, revision_items


class NoFindings(LookupError):
    """No calibration has reported on the framework (or on that campaign) yet."""


class Upkeep:
    def __init__(self, unit_of_work: UnitOfWork[Work]) -> None:
        self.unit_of_work = unit_of_work

    async def on_anchor_findings(
        self, work: Work, envelope: Envelope, event: AnchorFindingsRecorded
    ) -> None:
        await work.findings.record(envelope, event)

    async def revision_items(self, framework_id: str) -> list[RevisionItem]:
        """Every revision item of the framework: open first, worst share first."""
        async with self.unit_of_work.reading() as work:
            findings = await work.findings.of(framework_id)
            return revision_items(findings, await _versions(work, framework_id))

    async def health(self, framework_id: str, campaign_id: str | None = None) -> HealthReport:
        """The report on one cycle's calibrations: the latest cycle's unless one is named."""
        async with self.unit_of_work.reading() as work:
            everything = await work.findings.of(framework_id)
            versions = await _versions(work, framework_id)
        # The latest cycle is the campaign of the findings recorded last.
        campaign = campaign_id or (everything[-1].campaign_id if everything else None)
        findings = [f for f in everything if f.campaign_id == campaign]
        if not findings:
            raise NoFindings(
                f"no calibration has reported on framework {framework_id!r}"
                + (f" in campaign {campaign_id!r}" if campaign_id else "")
                + " yet: complete a calibration session on a campaign that used it"
            )
        if findings[0].framework_version not in versions:
            raise NoFindings(
                f"campaign {campaign!r} used version {findings[0].framework_version} of "
                f"framework {framework_id!r}, which this service has not published"
            )
        return health(campaign, findings, versions, revision_items(everything, versions))


async def _versions(work: Work, framework_id: str) -> dict[int, Framework]:
    """Every published version of the framework, by number."""
    found: dict[int, Framework] = {}
    for summary in await work.versions.history(framework_id):
        published = await work.versions.find(framework_id, summary.version)
        if published is not None:
            found[summary.version] = published.framework
    return found
