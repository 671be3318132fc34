"""What the assessment service holds about a person, for the requests a privacy officer makes
about them (docs/privacy.md, Requests): all of it, to give them (access), and their text, to
erase it (erasure). The service's `PersonalDataHolder` (libs/privacy/records.py).

An answer names no one who rated the person. What they received is given as their own
results show it once the campaign has closed (`results.results_for_subject`): per rater
group, an anonymous group below the threshold suppressed with its comments, and what is
withheld said in `withheld`. The calibration of their scores is given with each adjustment
and its justification (by HR, not a rater), never the session's figures per rater.

Peer nominations are given as the nominations route shows them to each party: to the
subject, only those they made, since the others (their manager's) would tell them who may
rate them; to the peer, each nomination to rate someone, with who nominated and decided
(the subject and their manager: neither rates the peer by it); to a nominator or decider,
what they did.

Erasure keeps every rating value: results and calibration rest on them, they are no one's
text, and the person's keys, once destroyed, leave the sealed copies in the log unreadable.
What goes is every comment they wrote or that was written about them (the campaign records
keep comments in clear) and their name in the org chart replica; their position and its
history there stay, as other people's reporting lines and the start of their level rest on
them, and they hold no name or text. Calibration justifications
about them live only in the sealed log, so destroying their keys erased those already.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import Any

from libs.privacy.records import PersonalDataSection
from libs.replicas.people import Person, position_history_section
from services.assessment.application import calibration, results
from services.assessment.application.campaigns import Campaigns
from services.assessment.application.ports import RecordedSubmission
from services.assessment.domain.ratings import ANONYMOUS_GROUPS
from services.assessment.domain.submissions import without_comments

# No retention period is set for campaign records yet (docs/domain.md §8).
KEPT = "kept with the campaign's records; erasing them removes the text and keeps the numbers"


class AssessmentPersonalData:
    """The holder on the service's campaigns and their records."""

    def __init__(self, campaigns: Campaigns) -> None:
        self.campaigns = campaigns

    async def records_of(self, employee_id: str) -> list[PersonalDataSection]:
        async with self.campaigns.unit_of_work.reading() as work:
            person = await work.org_chart.person(employee_id)
            history = await work.org_chart.position_history(employee_id)
            assessed_in = await work.records.campaigns_assessing(employee_id)
            submissions = await work.records.submissions_involving(employee_id)
            nominated = await work.records.nominations_involving(employee_id)
            sessions = await work.records.calibrations_of(employee_id)
        return [
            _position(person),
            position_history_section(history),
            *await self._assessed(employee_id, assessed_in),
            _given(employee_id, submissions),
            await self._nominations(employee_id, nominated),
            await self._calibrations(employee_id, sessions),
        ]

    async def erase(self, employee_id: str, request_ref: str, actor: str) -> dict[str, int]:
        """Nothing here is append-only, so the request and its officer are recorded where
        they already are (`erasure_requests`, the cycles log), not again, nor in a log file."""
        written = about = 0
        async with self.campaigns.unit_of_work.transaction() as work:
            names = await work.org_chart.erase(employee_id)
            for submission in await work.records.submissions_involving(
                employee_id, for_erasure=True
            ):
                answers, erased = without_comments(submission.answers)
                if not erased:
                    continue
                await work.records.rewrite_answers(replace(submission, answers=answers))
                if submission.rater == employee_id:
                    written += erased
                else:
                    about += erased
        return {"names": names, "comments written": written, "comments about them": about}

    async def _assessed(
        self, employee_id: str, campaign_ids: list[str]
    ) -> list[PersonalDataSection]:
        """The campaigns that assessed the person, and their results in each closed one."""
        campaigns: list[dict[str, Any]] = []
        received: list[dict[str, Any]] = []
        withheld: list[str] = []
        for campaign_id in campaign_ids:
            campaign = await self.campaigns.campaign(campaign_id)
            opened = campaign.opened
            assert opened is not None
            position = opened.positions.get(employee_id)
            campaigns.append(
                {
                    "campaign_id": campaign_id,
                    "framework_id": opened.framework_id,
                    "framework_version": opened.framework_version,
                    "position_assessed": None if position is None else "/".join(position),
                    "closes_at": opened.closes_at.isoformat(),
                    "closed": campaign.closed,
                }
            )
            if not campaign.closed:
                withheld.append(
                    f"campaign {campaign_id!r}: the ratings received so far, until it closes "
                    "and its results are released (while it is open, each new rating would "
                    "move a group's mean by that rater's own rating)"
                )
                continue
            views = await results.results_for_subject(
                self.campaigns, campaign_id, employee_id, employee_id
            )
            minimum = campaign.settings.anonymity.minimum_responses
            for view in views:
                received.append({"campaign_id": campaign_id, **view.model_dump(mode="json")})
                withheld += [
                    f"campaign {campaign_id!r}, {view.competency}: the {g.group} group's "
                    f"ratings and comments, as fewer than {minimum} of its raters rated it "
                    "and they would tell who they are"
                    for g in view.groups
                    if g.suppressed
                ]
            withheld.append(
                f"campaign {campaign_id!r}: each {' and '.join(sorted(ANONYMOUS_GROUPS))} "
                "rating as given, and who gave it: they are given only as their group's "
                "mean and comments, so that no rater can be told apart"
            )
        return [
            PersonalDataSection(
                topic="campaigns assessing them",
                description="360 campaigns whose population included them, and the position "
                f"they were assessed against; {KEPT}",
                items=campaigns,
            ),
            PersonalDataSection(
                topic="ratings received",
                description="their results in each closed campaign, exactly as they see them: "
                "per competency and rater group, anonymous groups only when large enough",
                items=received,
                withheld=withheld,
            ),
        ]

    async def _nominations(
        self, employee_id: str, subjects: list[tuple[str, str]]
    ) -> PersonalDataSection:
        items: list[dict[str, Any]] = []
        withheld: list[str] = []
        for campaign_id, subject in subjects:
            _, assessment = await self.campaigns.campaign_and_subject(campaign_id, subject)
            for nomination in assessment.nominations:
                involved = employee_id in (
                    nomination.peer,
                    nomination.nominated_by,
                    nomination.decided_by,
                )
                if subject == employee_id and nomination.nominated_by != employee_id:
                    note = (
                        f"campaign {campaign_id!r}: the peers others nominated to rate them, "
                        "which would tell them who may"
                    )
                    if note not in withheld:
                        withheld.append(note)
                elif subject == employee_id or involved:
                    items.append({"campaign_id": campaign_id, **asdict(nomination)})
        return PersonalDataSection(
            topic="peer nominations",
            description="peers nominated to rate them, nominations of them to rate others, "
            f"and nominations they made or decided; {KEPT}",
            items=items,
            withheld=withheld,
        )

    async def _calibrations(self, employee_id: str, sessions: list[str]) -> PersonalDataSection:
        items: list[dict[str, Any]] = []
        withheld: list[str] = []
        for session_id in sessions:
            session, scores = await calibration.scores_of(self.campaigns, session_id, employee_id)
            assert session.opened is not None
            items += [
                {
                    "session_id": session_id,
                    "campaign_id": session.opened.campaign_id,
                    "completed": session.completed,
                    **score.model_dump(mode="json", exclude={"subject"}),
                }
                for score in scores
            ]
            withheld.append(
                f"calibration session {session_id!r}: its figures per rater (how lenient or "
                "severe each was), computed over their ratings of them among others: they "
                "are about the raters, and would tell who rated them"
            )
        return PersonalDataSection(
            topic="calibration",
            description="their scores in each calibration session, with every adjustment, "
            f"who made it and why; {KEPT}",
            items=items,
            withheld=withheld,
        )


def _position(person: Person | None) -> PersonalDataSection:
    return PersonalDataSection(
        topic="position in the org chart",
        description="name, position and manager as the HRIS last sent them, kept to find "
        "each person's raters; the name is forgotten on erasure",
        items=[] if person is None else [person.model_dump(mode="json")],
    )


def _given(employee_id: str, submissions: list[RecordedSubmission]) -> PersonalDataSection:
    return PersonalDataSection(
        topic="ratings given",
        description="their latest submission for each person they rated (themselves "
        f"included): each item's value and comment; {KEPT}",
        items=[
            {
                "campaign_id": s.campaign_id,
                "subject": s.subject,
                "group": s.group,
                "final": s.final,
                "answers": [
                    {
                        "item": item,
                        "value": value,
                        "comment": comment,
                        "not_relevant": not_relevant,
                    }
                    for item, value, comment, not_relevant in s.answers
                ],
            }
            for s in submissions
            if s.rater == employee_id
        ],
    )
