"""The AsyncAPI document integrators read is generated from the registered schemas."""

from __future__ import annotations

from libs.events.asyncapi import as_dict, as_yaml
from libs.events.registry import IntegrationEvent, registry
from libs.events.subjects import subject_for, subject_of
from services.framework.domain import events as _framework_draft_events  # noqa: F401


def test_every_registered_event_has_a_channel_with_its_envelope_and_payload_schema() -> None:
    document = as_dict()
    assert document["asyncapi"].startswith("3.")
    schemas = document["components"]["schemas"]
    for model in registry.models():
        if not issubclass(model, IntegrationEvent):
            subject = subject_for(model.context, model.event_type, model.schema_version)
            assert subject not in document["channels"], "never published"
            continue
        assert subject_of(model) in document["channels"]
        envelope = schemas[f"{model.event_type}V{model.schema_version}Envelope"]
        assert {"event_id", "actor", "trace_context", "payload"} <= set(envelope["properties"])
    assert "FrameworkPublished" in schemas
    assert any(m.private for m in registry.models()), "the framework's draft edits are private"
    assert "talentledger.<context>.<event_name>.v<version>" in document["info"]["description"]


def test_an_outside_systems_event_has_its_intake_channel_and_no_other_has_one() -> None:
    channels = as_dict()["channels"]
    assert "intake.hris.employee_hired.v1" in channels
    assert "talentledger.hris.employee_hired.v1" in channels, "where the services read it"
    assert "intake.lms.course_completed.v1" in channels
    intakes = {subject.split(".")[1] for subject in channels if subject.startswith("intake.")}
    assert intakes == {"hris", "lms"}


def test_the_document_renders_as_yaml() -> None:
    assert "talentledger.framework.framework_published.v6:" in as_yaml()


def test_goals_are_published_and_a_proposal_is_not() -> None:
    """docs/domain.md §5, Goals: a goal in force, its progress and its closing are public; a
    proposal waiting for the manager stays in the development service."""
    from services.development.domain import goals  # noqa: F401  (registers GoalProposed)

    channels = as_dict()["channels"]
    for name in ("goal_set", "goal_progress_recorded", "goal_closed"):
        assert f"talentledger.development.{name}.v1" in channels
    assert "talentledger.development.goal_proposed.v1" not in channels
    assert "talentledger.development.goal_rejected.v1" not in channels


def test_plan_actions_in_force_are_published_and_proposals_are_not() -> None:
    """docs/domain.md §5, Development plans: as for goals, an action in force, its progress
    and its completion are public; a proposal, a decline and a comment stay in the
    development service."""
    from services.development.domain import plan_ownership  # noqa: F401  (registers them)

    channels = as_dict()["channels"]
    for name in ("plan_action_approved", "plan_action_progressed", "plan_action_completed"):
        assert f"talentledger.development.{name}.v1" in channels
    for name in ("plan_action_proposed", "plan_action_declined", "plan_action_commented"):
        assert f"talentledger.development.{name}.v1" not in channels
