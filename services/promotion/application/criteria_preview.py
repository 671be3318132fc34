"""Criteria before they are used (docs/domain.md §6): HR tries a criteria document on a
calibrated population before publishing it. The document stays a draft in HR's hands; what
is recorded is that it was previewed (`CriteriaPreviewed`, in the service's own log: who,
the draft's hash, the session and the attribute asked for), so that auditors can see who
looked at which groups' figures."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from libs.events.envelope import EventMetadata
from libs.events.schemas.framework import EffectiveRoleProfile
from libs.replicas.people import Person
from services.promotion.application.criteria import in_force, numbered
from services.promotion.application.ports import Acting
from services.promotion.application.promotion import NotFound, Promotion, require
from services.promotion.application.readiness import framework_at
from services.promotion.domain.cases import CaseRefused, WrongState
from services.promotion.domain.criteria_preview import (
    CriteriaPreview,
    CriteriaPreviewed,
    Position,
    PreviewRefused,
    Scored,
    draft_hash,
    preview,
    targets,
)


def preview_stream() -> str:
    """Each preview is a stream of its own: previews never wait on one another."""
    return f"promotion-criteria-preview-{uuid4().hex}"


def _position(person: Person | None) -> Position | None:
    """Where the org chart has the person today; None when it does not know."""
    if person is None or not (person.job_family and person.track and person.level):
        return None
    return (person.job_family, person.track, person.level)


async def preview_criteria(
    promotion: Promotion,
    draft: dict[str, Any],
    actor: Acting,
    *,
    attribute: str | None = None,
    session_id: str | None = None,
) -> CriteriaPreview:
    """How many people of the calibration session (default: the newest) the draft and the
    version in force find ready for their next level, per move and, as far as it can be
    shown without revealing anyone's group, per group of the protected attribute
    (hr_admin). Recorded as `CriteriaPreviewed`; a refused preview records nothing."""
    require(actor, "hr_admin", "previewing promotion criteria")
    numbered(draft, 1)  # refused before anything is read
    # A transaction: the preview is recorded, and the first use of criteria records the
    # defaults as version 1.
    async with promotion.uow.transaction() as tx:
        current = await in_force(promotion, tx)
        candidate = numbered(draft, current.version + 1)
        calibrated = await tx.records.population(session_id)
        if not calibrated:
            if session_id is not None:
                raise NotFound(f"no calibration session {session_id!r} has reached the service")
            raise WrongState(
                "no calibration has reached the promotion service yet: a preview counts the "
                "people of the newest calibration session"
            )
        scores = calibrated[0].scores
        framework = await framework_at(tx, scores.framework_id, scores.framework_version)
        # Who is still here, and where, is what the org chart says today.
        chart = {p.employee_id: p for p in await tx.org_chart.everyone()}
        population = []
        for c in calibrated:
            person = chart.get(c.scores.subject)
            gone = person is not None and person.left_on is not None
            population.append(
                Scored(scores=c.scores, position=c.position, now=_position(person), left=gone)
            )
        profiles: dict[Position, EffectiveRoleProfile] = {}
        for position in targets(framework, population):
            profile = await tx.frameworks.role_profile(
                scores.framework_id, scores.framework_version, position
            )
            if profile is not None:
                profiles[position] = profile
        groups = await tx.records.attribute(attribute) if attribute is not None else None
        try:
            found = preview(
                candidate,
                current,
                framework,
                population,
                profiles,
                as_of=promotion.clock().date(),
                attribute=attribute,
                attributes=groups,
            )
        except PreviewRefused as error:
            raise CaseRefused(f"criteria refused for this population: {error}") from None
        previewed = CriteriaPreviewed(
            previewed_by=actor.subject,
            draft_hash=draft_hash(candidate),
            in_force_version=current.version,
            session_id=found.session_id,
            attribute=attribute,
        )
        await tx.events.append(preview_stream(), 0, [previewed], EventMetadata(actor=actor.subject))
    return found
