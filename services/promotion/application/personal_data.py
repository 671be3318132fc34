"""What the promotion service holds about a person, and erasing it (docs/privacy.md,
Requests): the service's `PersonalDataHolder`.

Held about a person: the entries of the decision log about them (their cases step by step,
with the notes, rationales and grounds as still held or `[erased]`; legal holds on them;
erasure requests refused), the scores calibration sessions gave them, their own value of each
protected attribute, their row of the org chart copy and their position history there, and
the steps they took on other people's cases. Erasing removes every personal text of theirs
that the service keeps in clear: the decision log's (`erase_text`), their protected
attribute values and their name, in one transaction, and never while a legal hold is in
force. Their position and its history stay, as the org chart row's position does: no name
or text, and readiness judges time at level on them.
"""

from __future__ import annotations

from typing import Any

from libs.privacy.records import PersonalDataSection
from libs.replicas.people import position_history_section
from services.promotion.application.erasure import erase_text
from services.promotion.application.promotion import Promotion
from services.promotion.application.views import cases_of
from services.promotion.domain.decision_log import LogEntry
from services.promotion.domain.holds import HOLD_KINDS, holds

# The sections of the log's entries about the person, by kind, in this order.
TOPICS: dict[str, str] = {
    "nomination": "nominations",
    "endorsement": "endorsements",
    "evidence": "evidence",
    "calibration_confirmation": "calibration confirmations",
    "readiness_evaluated": "readiness evaluations",
    "decision": "decisions",
    "appeal_outcome": "decisions",
    "appeal": "appeals",
    "erasure": "erasures",
    "erasure_refused": "erasure requests refused",
    "erasure_cleared": "erasure requests cleared",
}
KEPT = "kept in the append-only promotion decision log, the record of promotion decisions"


class PromotionPersonalData:
    """The `PersonalDataHolder` port (libs/privacy/records.py) of the promotion service."""

    def __init__(self, promotion: Promotion) -> None:
        self.promotion = promotion

    async def records_of(self, employee_id: str) -> list[PersonalDataSection]:
        async with self.promotion.uow.transaction() as tx:
            about = await tx.log.of_employee(employee_id)
            acts = [e for e in await tx.log.by_actor(employee_id) if e.employee_id != employee_id]
            calibrated = await tx.records.calibrations_of(employee_id)
            attributes = await tx.records.attributes_of(employee_id)
            person = await tx.org_chart.person(employee_id)
            history = await tx.org_chart.position_history(employee_id)
        sections = [
            PersonalDataSection(
                topic="promotion cases",
                description=f"their cases and where each stands; {KEPT}",
                items=[
                    {
                        "case_id": c.case_id,
                        "cycle_id": c.cycle_id,
                        "move": c.move,
                        "status": c.status,
                        "outcome": c.final_outcome,
                        "nominated_by": c.nominated_by,
                        "nominated_at": c.nominated_at.isoformat(),
                    }
                    for c in cases_of(about)
                ],
            )
        ]
        by_topic: dict[str, list[dict[str, Any]]] = {topic: [] for topic in TOPICS.values()}
        for entry in about:
            if entry.kind not in HOLD_KINDS:
                by_topic[TOPICS[entry.kind]].append(_item(entry))
        sections += [
            PersonalDataSection(topic=topic, description=KEPT, items=items)
            for topic, items in by_topic.items()
            if items
        ]
        sections.append(
            PersonalDataSection(
                topic="legal holds",
                description="holds keeping their promotion record from erasure, in force or "
                f"lifted; {KEPT}",
                items=[h.model_dump(mode="json") for h in holds(about).values()],
            )
        )
        sections.append(
            PersonalDataSection(
                topic="calibrated scores",
                description="the scores calibration sessions gave them, as readiness is judged "
                "on them; kept unchanged, since decisions name them",
                items=[
                    {
                        "session_id": c.scores.session_id,
                        "campaign_id": c.campaign_id,
                        "completed_at": c.completed_at.isoformat(),
                        "framework_id": c.scores.framework_id,
                        "framework_version": c.scores.framework_version,
                        "scores": c.scores.scores,
                    }
                    for c in calibrated
                ],
            )
        )
        sections.append(
            PersonalDataSection(
                topic="protected attributes",
                description="their own value of each attribute the HRIS recorded for fairness "
                "monitoring, which reads it only to compare groups and never names anyone",
                items=[
                    {
                        "attribute": a.attribute,
                        "value": a.value,
                        "effective_on": a.effective_on.isoformat(),
                    }
                    for a in attributes
                ],
            )
        )
        if person is not None:
            sections.append(
                PersonalDataSection(
                    topic="org chart",
                    description="the service's copy of their HRIS record, for who may act on "
                    "their cases",
                    items=[person.model_dump(mode="json")],
                )
            )
        if history:
            sections.append(position_history_section(history))
        if acts:
            sections.append(
                PersonalDataSection(
                    topic="steps taken on other people's cases",
                    description=f"what they recorded as nominator, manager or decider; {KEPT}",
                    items=[
                        {
                            "case_id": e.case_id,
                            "kind": e.kind,
                            "recorded_at": e.recorded_at.isoformat(),
                        }
                        for e in acts
                    ],
                    withheld=["what those steps say: it is about the people whose cases they are"],
                )
            )
        return sections

    async def erase(self, employee_id: str, request_ref: str, actor: str) -> dict[str, int]:
        async with self.promotion.uow.transaction() as tx:
            done = await erase_text(self.promotion, tx, employee_id, request_ref, actor)
            attributes = await tx.records.erase_attributes(employee_id)
            names = await tx.org_chart.erase(employee_id)
        return {
            "decision_log_texts": done.removed,
            "protected_attribute_values": attributes,
            "org_chart_names": names,
        }


def _item(entry: LogEntry) -> dict[str, Any]:
    """An entry about the person: when, by whom, and what it records, text as still held."""
    payload = entry.disclosed()
    payload.pop("version", None)
    return {
        "case_id": entry.case_id,
        "sequence": entry.sequence,
        "recorded_at": entry.recorded_at.isoformat(),
        "by": entry.actor,
        **payload,
    }
