"""Temporal activities the assessment service runs on its own task queue for the review-cycle
workflow (docs/architecture.md §4): open the 360 campaign, remind, close, open its calibration.

Each is idempotent: Temporal retries an activity after a timeout or a worker crash, so a
repeat finds the work done (the campaign opened or closed, the session there) and reports it
rather than doing it again. When a command fails, the state is read again first: an attempt
running alongside may have done the work (it won the race), and then that is the answer.
Business refusals that retrying cannot fix are non-retryable ApplicationErrors naming the
problem; anything else (a lost race, a database outage) is left to Temporal's retries.

Each acts for the hr_admin the cycles API recorded as the cycle's starter
(`libs.replicas.cycles`), never for the `actor` the workflow input names.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from psycopg.errors import IntegrityError
from psycopg_pool import AsyncConnectionPool
from temporalio import activity
from temporalio.exceptions import ApplicationError

from libs.events.activities import (
    CLOSE_CAMPAIGN,
    OPEN_CALIBRATION,
    OPEN_CAMPAIGN,
    SEND_REMINDERS,
    CalibrationOpened,
    CampaignStarted,
    CampaignStep,
    OpenCampaign,
    ResponseCount,
)
from libs.events.concurrency import ConcurrencyError
from libs.replicas.cycles import KnownCycles
from services.assessment.application import calibration, closing, launching, reminders
from services.assessment.application.calibration import SessionNotFound
from services.assessment.application.campaigns import (
    CampaignNotFound,
    Campaigns,
    UnknownFrameworkVersion,
)
from services.assessment.application.launching import Population
from services.assessment.domain.calibration_sessions import CalibrationError, CalibrationSession
from services.assessment.domain.campaigns import Campaign, CampaignError

# What a command may fail with when an attempt alongside did the work first (a stale stream
# version, the subjects' claim taken), or when it is refused (the campaign's own errors).
_FAILED = (CampaignError, CalibrationError, ConcurrencyError, IntegrityError)


def calibration_session_of(campaign_id: str) -> str:
    """The session the cycle opens on a campaign: one per campaign, so a repeat finds it."""
    return f"{campaign_id}.calibration"


def _started() -> datetime:
    """When this attempt started: the commands' `now`. Outside an activity (a direct call),
    the current time."""
    return activity.info().started_time if activity.in_activity() else datetime.now(UTC)


def _refused(error: Exception) -> Exception:
    """A failure as Temporal should treat it: a framework version still on its way is
    retried (as `confirm_framework` is); any other business refusal would be refused again,
    so it is not retried; anything else (a lost race, an outage) is retried as it is."""
    if isinstance(error, UnknownFrameworkVersion):
        return ApplicationError(str(error), type="FrameworkNotReplicated")
    if isinstance(error, CampaignError | CalibrationError):
        return ApplicationError(str(error), type=type(error).__name__, non_retryable=True)
    return error


class AssessmentActivities:
    def __init__(
        self, campaigns: Campaigns, cycles: KnownCycles, pool: AsyncConnectionPool
    ) -> None:
        self.campaigns = campaigns
        self.cycles = cycles
        self.pool = pool

    async def _acting_for(self, campaign_id: str, grant: str) -> str:
        """The cycle's recorded starter; refuses a campaign of no cycle HR started."""
        actor = await self.cycles.acting_for(self.pool, campaign_id, grant)
        return actor.subject

    def all(self) -> list[Callable[..., Any]]:
        return [self.open_campaign, self.send_reminders, self.close_campaign, self.open_calibration]

    # -- reading what is there ------------------------------------------------------------

    async def _find(self, campaign_id: str) -> Campaign | None:
        try:
            return await self.campaigns.campaign(campaign_id)
        except CampaignNotFound:
            return None

    async def _campaign(self, campaign_id: str) -> Campaign:
        found = await self._find(campaign_id)
        if found is None:
            raise _refused(CampaignNotFound(campaign_id))
        return found

    async def _count(self, campaign: Campaign) -> ResponseCount:
        """Expected assignments (org chart raters and approved peers, docs/domain.md §3) and those
        still without a final submission: the non-responders."""
        progress = await reminders.progress(self.campaigns, campaign)
        return ResponseCount(
            campaign_id=campaign.campaign_id,
            assignments=len(progress.expected),
            outstanding=len(progress.outstanding),
            closed=campaign.closed,
        )

    async def _session(self, session_id: str) -> CalibrationSession | None:
        try:
            return await calibration.session(self.campaigns, session_id)
        except SessionNotFound:
            return None

    # -- the activities -----------------------------------------------------------------

    @activity.defn(name=OPEN_CAMPAIGN)
    async def open_campaign(self, request: OpenCampaign) -> CampaignStarted:
        """Open the 360 campaign for the cycle's population on the pinned framework version
        (docs/domain.md §2 Versions, §3); a repeat finds it open and reports its counts."""
        actor = await self._acting_for(request.campaign_id, request.grant)
        version = request.framework.version
        if version is None:
            raise ApplicationError(
                f"campaign {request.campaign_id!r}: the framework version must be pinned "
                f"(resolve {request.framework.framework_id!r} first)",
                type="FrameworkNotPinned",
                non_retryable=True,
            )
        campaign = await self._find(request.campaign_id)
        if campaign is None:
            p = request.population
            population = Population(
                employee_ids=None if p.employee_ids is None else list(p.employee_ids),
                department=p.department,
                job_family=p.job_family,
            )
            try:
                await launching.open_campaign(
                    self.campaigns,
                    request.campaign_id,
                    request.framework.framework_id,
                    version,
                    population,
                    request.closes_at,
                    actor,
                    _started(),
                )
            except _FAILED as error:
                if await self._find(request.campaign_id) is None:
                    raise _refused(error) from None
                # else an attempt alongside opened it: report that one
            campaign = await self._campaign(request.campaign_id)
        opened = campaign.opened
        assert opened is not None
        if (opened.framework_id, opened.framework_version) != (
            request.framework.framework_id,
            version,
        ):
            # The id is another campaign's: reporting it as this one would be wrong.
            raise ApplicationError(
                f"campaign {request.campaign_id!r} was opened on framework "
                f"{opened.framework_id!r} version {opened.framework_version}, not "
                f"{request.framework.framework_id!r} version {version}: use another campaign id",
                type="CampaignConflict",
                non_retryable=True,
            )
        count = await self._count(campaign)
        return CampaignStarted(
            campaign_id=request.campaign_id,
            subjects=len(opened.population),
            assignments=count.assignments,
        )

    @activity.defn(name=SEND_REMINDERS)
    async def send_reminders(self, step: CampaignStep) -> ResponseCount:
        """Remind the raters who owe a final submission (docs/domain.md §3, Deadlines and
        reminders). Past the close date, or once closed, nobody is reminded: it only reports.

        A retry finds the reminder an earlier attempt of the same activity sent (a
        RemindersSent since the activity was first scheduled) and does not remind twice.
        """
        actor = await self._acting_for(step.campaign_id, step.grant)
        campaign = await self._campaign(step.campaign_id)
        now = _started()
        if campaign.is_open(now) and not await self._reminded_since_scheduled(campaign):
            try:
                await reminders.remind(self.campaigns, step.campaign_id, actor, now)
            except _FAILED as error:
                campaign = await self._campaign(step.campaign_id)
                if campaign.is_open(now) and not await self._reminded_since_scheduled(campaign):
                    raise _refused(error) from None
                # else closed, or reminded by an attempt alongside: report as it stands
            campaign = await self._campaign(step.campaign_id)
        return await self._count(campaign)

    async def _reminded_since_scheduled(self, campaign: Campaign) -> bool:
        """A first attempt has nothing before it; a retry looks for its predecessor's
        reminder (event times are the workers' clocks, scheduling the Temporal server's)."""
        if not activity.in_activity() or activity.info().attempt <= 1:
            return False
        scheduled = activity.info().scheduled_time
        return await reminders.reminded_since(self.campaigns, campaign.campaign_id, scheduled)

    @activity.defn(name=CLOSE_CAMPAIGN)
    async def close_campaign(self, step: CampaignStep) -> ResponseCount:
        """Close the campaign: revisions end and results are released (docs/domain.md §3). A
        repeat finds it closed and reports."""
        actor = await self._acting_for(step.campaign_id, step.grant)
        campaign = await self._campaign(step.campaign_id)
        if not campaign.closed:
            try:
                await closing.close(self.campaigns, step.campaign_id, actor)
            except _FAILED as error:
                if not (await self._campaign(step.campaign_id)).closed:
                    raise _refused(error) from None
                # else closed by an attempt alongside: report
            campaign = await self._campaign(step.campaign_id)
        return await self._count(campaign)

    @activity.defn(name=OPEN_CALIBRATION)
    async def open_calibration(self, step: CampaignStep) -> CalibrationOpened:
        """Open the calibration session of the campaign's whole population (docs/domain.md §4),
        `<campaign id>.calibration`; a repeat finds the session and reports it."""
        actor = await self._acting_for(step.campaign_id, step.grant)
        session_id = calibration_session_of(step.campaign_id)
        session = await self._session(session_id)
        if session is None:
            await self._campaign(step.campaign_id)  # an unknown campaign is refused by name
            try:
                await calibration.open_session(
                    self.campaigns, session_id, step.campaign_id, None, actor
                )
            except _FAILED as error:
                # An attempt alongside may have won the append or the subjects' claim.
                if await self._session(session_id) is None:
                    raise _refused(error) from None
            session = await self._session(session_id)
        assert session is not None
        assert session.opened is not None
        if session.opened.campaign_id != step.campaign_id:
            raise ApplicationError(
                f"calibration session {session_id!r} belongs to campaign "
                f"{session.opened.campaign_id!r}, not {step.campaign_id!r}",
                type="SessionConflict",
                non_retryable=True,
            )
        return CalibrationOpened(session_id=session_id, subjects=len(session.opened.subjects))
