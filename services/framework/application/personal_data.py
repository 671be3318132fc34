"""What the framework service holds about a person, and erasing it (docs/privacy.md,
Requests): the `PersonalDataHolder` the access route and the erasure activity ask.

The service keeps frameworks, not people: a person appears only as the actor of the changes
they made (drafts, imports, publications, reviews recorded, invitations, comments and review
verdicts), recorded on each event of the log and on each published version, as the author of
the comments and verdicts they wrote on drafts, and as a rater of anonymised examples in
calibrations before launch (the ratings they gave). Anchor reviews and calibration findings
come from calibration sessions and name no one.
"""

from __future__ import annotations

from libs.events.ports import UnitOfWork
from libs.privacy.records import PersonalDataSection
from services.framework.application.ports import Work

_RECORD = (
    "the record of who changed which framework, kept as long as the framework: it says "
    "what they did in their job, nothing about them as a person"
)


class FrameworkPersonalData:
    def __init__(self, unit_of_work: UnitOfWork[Work]) -> None:
        self.unit_of_work = unit_of_work

    async def records_of(self, employee_id: str) -> list[PersonalDataSection]:
        async with self.unit_of_work.reading() as work:
            changes = await work.changes.made_by(employee_id)
            published = await work.versions.published_by(employee_id)
            ratings = await work.changes.ratings_given_by(employee_id)
            remarks = await work.changes.remarks_by(employee_id)
            mentions = await work.changes.mentions_of(employee_id)
        return [
            PersonalDataSection(
                topic="framework changes they made",
                description="every draft edit, import, publication, review recorded, invitation, "
                f"comment and review verdict they made; {_RECORD}",
                items=[c.model_dump(mode="json") for c in changes],
            ),
            PersonalDataSection(
                topic="framework versions they published",
                description=_RECORD,
                items=[
                    v.model_dump(mode="json", exclude={"actor", "approvals"}) for v in published
                ],
            ),
            PersonalDataSection(
                topic="ratings they gave in calibrations before launch",
                description="each level (or 'cannot tell') they gave an anonymised example "
                f"when calibrating a draft's anchors, revisions included; {_RECORD}",
                items=[r.model_dump(mode="json") for r in ratings],
            ),
            PersonalDataSection(
                topic="comments and review verdicts they wrote on drafts",
                description="what they wrote on a framework's draft as a contributor or a "
                f"reviewer, with the element or their verdict; {_RECORD}",
                items=[r.model_dump(mode="json") for r in remarks],
            ),
            PersonalDataSection(
                topic="drafts whose authoring named them",
                description="invitations to contribute to a draft, review rounds naming them "
                f"as a reviewer, and publications recording their approval; {_RECORD}",
                items=[m.model_dump(mode="json") for m in mentions],
            ),
        ]

    async def erase(self, employee_id: str, request_ref: str, actor: str) -> dict[str, int]:
        """Nothing to erase, so no kind is counted: the service holds no name, no text about
        the person and nothing sealed under their key. Their id as the actor of framework
        changes stays: it is the record of who changed and published a framework, which
        cycles and assessments cite, and not data about the person; so do the ratings they
        gave anonymised examples, which judge a draft's anchors, not anyone, and their
        comments and verdicts, which judge a draft, not anyone."""
        return {}
