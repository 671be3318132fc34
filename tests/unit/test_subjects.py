"""The one subject naming rule (docs/architecture.md §3, Subjects)."""

import pytest

from libs.events.schemas.framework import FrameworkPublished
from libs.events.subjects import (
    DEAD_LETTER_SUBJECTS,
    consumer_and_subject,
    context_subjects,
    dead_letter_subject,
    every_version,
    intake_subject_for,
    original_subject,
    owning_context,
    redrive_subject,
    replay_subject,
    subject_of,
)


def test_subjects_name_context_event_and_version() -> None:
    assert subject_of(FrameworkPublished) == "talentledger.framework.framework_published.v6"


def test_dead_letter_subjects_round_trip() -> None:
    subject = dead_letter_subject("assessment-framework-versions", subject_of(FrameworkPublished))
    assert consumer_and_subject(subject) == (
        "assessment-framework-versions",
        "talentledger.framework.framework_published.v6",
    )
    with pytest.raises(ValueError, match="not a dead-letter subject"):
        consumer_and_subject("talentledger.framework.framework_published.v6")


def test_the_owning_context_of_a_subject_also_when_replayed() -> None:
    subject = subject_of(FrameworkPublished)
    assert owning_context(subject) == "framework"
    assert owning_context(f"talentledger.replay.assessment-framework-versions.{subject}") == (
        "framework"
    )
    for odd in ("deadletter.x.talentledger.framework.a.v1", "talentledger.replay.c", "x"):
        with pytest.raises(ValueError, match="not an event subject"):
            owning_context(odd)


def test_wildcards_of_the_rule() -> None:
    assert every_version("framework", "FrameworkPublished") == (
        "talentledger.framework.framework_published.*"
    )
    assert context_subjects("hris") == "talentledger.hris.>"
    assert dead_letter_subject("development-catalog") == "deadletter.development-catalog.>"
    assert DEAD_LETTER_SUBJECTS == "deadletter.>"


def test_a_replay_goes_to_one_consumer_and_keeps_its_original_subject() -> None:
    subject = subject_of(FrameworkPublished)
    replayed = replay_subject("assessment-framework-versions", subject)
    assert replayed == f"talentledger.replay.assessment-framework-versions.{subject}"
    assert replay_subject("assessment-framework-versions") == (
        "talentledger.replay.assessment-framework-versions.>"
    )
    assert original_subject(replayed) == subject
    assert original_subject(subject) == subject
    assert original_subject("talentledger.replay.c") == "talentledger.replay.c"


def test_outside_systems_publish_on_intake_subjects_outside_the_event_stream() -> None:
    subject = intake_subject_for("hris", "EmployeeHired", 1)
    assert subject == "intake.hris.employee_hired.v1"
    assert not subject.startswith("talentledger."), "the event stream takes talentledger.>"


def test_a_dead_letter_of_the_intake_is_re_driven_onto_the_intake_never_the_event_stream() -> None:
    intake = intake_subject_for("hris", "EmployeeHired", 1)
    assert redrive_subject("cycles-intake", intake) == intake
    event = subject_of(FrameworkPublished)
    assert redrive_subject("assessment-framework-versions", event) == replay_subject(
        "assessment-framework-versions", event
    )
