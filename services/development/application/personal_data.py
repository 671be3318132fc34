"""What the development service holds about a person, and erasing it (docs/privacy.md,
Requests): the `PersonalDataHolder` the access route and the erasure activity ask."""

from __future__ import annotations

from libs.events.ports import UnitOfWork
from libs.personal.sealing import ERASED
from libs.privacy.records import PersonalDataSection
from libs.replicas.people import position_history_section
from services.development.application.ports import Work

_KEPT = "kept while the person is employed, as the basis of their development"


class DevelopmentPersonalData:
    """The service's records of one person: their place in the org chart copy, the scores
    and gaps calibrations left, their plans with every action's text, the courses those
    plans enrolled them in and they completed, where they mentor someone, and their goals."""

    def __init__(self, unit_of_work: UnitOfWork[Work]) -> None:
        self.unit_of_work = unit_of_work

    async def records_of(self, employee_id: str) -> list[PersonalDataSection]:
        async with self.unit_of_work.reading() as work:
            person = await work.org_chart.person(employee_id)
            history = await work.org_chart.position_history(employee_id)
            held = await work.records.held_about(employee_id)
        enrolments = [
            {
                "plan_id": plan["plan_id"],
                "action_id": a["action_id"],
                "competency": a["competency"],
                "course_id": a["course_id"],
            }
            for plan in held.plans
            for a in plan["actions"]
            if a["kind"] == "course" and a["course_id"] is not None
        ]
        return [
            PersonalDataSection(
                topic="position",
                description="the HRIS's record as this service copies it, to find managers, "
                "teams and mentors",
                items=[person.model_dump(mode="json")] if person else [],
            ),
            position_history_section(history),
            PersonalDataSection(
                topic="calibrated scores",
                description=f"each competency's score after calibration, per session; {_KEPT}",
                items=held.scores,
            ),
            PersonalDataSection(
                topic="gaps",
                description="target of the role profile minus the calibrated score, per "
                f"session; {_KEPT}",
                items=held.gaps,
            ),
            PersonalDataSection(
                topic="development plans",
                description="the plans generated from the gaps, with their managers' edits: "
                "every action and its text",
                items=held.plans,
            ),
            PersonalDataSection(
                topic="course enrolments",
                description="courses of the plans, each asked of the LMS as an enrolment",
                items=enrolments,
            ),
            PersonalDataSection(
                topic="course completions",
                description="as the LMS reported them, to measure whether courses move scores",
                items=held.completions,
            ),
            PersonalDataSection(
                topic="mentoring",
                description="actions of other people's plans naming this person as mentor",
                items=held.mentoring,
                withheld=["the text of those actions: it is about the person mentored"],
            ),
            PersonalDataSection(
                topic="goals",
                description="goals proposed, agreed or set by HR, with their targets, every "
                "check-in's note, evidence and estimates, each calibration's verdict on the "
                "targets and how the goal closed",
                items=held.goals,
            ),
        ]

    async def erase(self, employee_id: str, request_ref: str, actor: str) -> dict[str, int]:
        """The text of every action of the person's plans, generated or written by a
        manager (the table does not tell them apart), the text of their goals (titles,
        check-in notes and evidence, reasons), and their name in the org chart copy, whose
        position and position history stay (no name or text, and reporting lines and level
        starts rest on them).

        Removal reasons are in no table: the plan keeps the actions left, and the reasons
        are only in the plan's events, sealed under the person's key since version 2
        (docs/privacy.md); the goals' events seal their text the same way. Scores, gaps,
        completions, targets and ids stay: they are no text about the person. `request_ref`
        and `actor` are recorded by the erasure workflow and the request replica; nothing
        here needs them."""
        async with self.unit_of_work.transaction() as work:
            descriptions = await work.records.erase_plan_text(employee_id, ERASED)
            goal_texts = await work.records.erase_goal_text(employee_id, ERASED)
            names = await work.org_chart.erase(employee_id)
        return {"plan action texts": descriptions, "goal texts": goal_texts, "names": names}
