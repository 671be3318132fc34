"""Peer nominations (docs/domain.md §3, Rater groups): nominated by the subject or their
manager, decided by the manager, recorded for the campaign-wide questions; the subject sees
only the nominations they made."""

from __future__ import annotations

import pytest

from services.assessment.application import nominations, rating
from services.assessment.application.campaigns import (
    Campaigns,
    NotAllowed,
    NotInCampaign,
    subject_stream_of,
)
from services.assessment.domain.raters import Nomination, NominationRefused, NotEntitled
from tests.support.assessment_ports import CAMPAIGN, NOW, MemoryAssessment


async def test_a_nomination_is_pending_until_the_manager_approves_it(
    spring: Campaigns, uow: MemoryAssessment
) -> None:
    found = await nominations.nominate(spring, CAMPAIGN, "ann", "p1", "ann", NOW)
    assert found == Nomination("ann", "p1", "ann")
    assert await uow.work.records.approved_peers(CAMPAIGN) == []
    assert await rating.my_assignments(spring, CAMPAIGN, "p1") == []

    decided = await nominations.decide_nomination(spring, CAMPAIGN, "ann", "p1", True, "mgr", NOW)
    assert decided == Nomination("ann", "p1", "ann", "approved", "mgr")
    assert await uow.work.records.rated_as_peer(CAMPAIGN, "p1") == ["ann"]
    [peer] = await rating.my_assignments(spring, CAMPAIGN, "p1")
    assert (peer.subject, peer.group, peer.submitted) == ("ann", "peer", False)


async def test_the_nomination_events_are_private_and_the_peer_group_public_in_counts(
    spring: Campaigns, uow: MemoryAssessment
) -> None:
    await nominations.nominate(spring, CAMPAIGN, "ann", "p1", "mgr", NOW)
    stream = await uow.work.events.read_stream(subject_stream_of(CAMPAIGN, "ann"))
    assert [e.event_type for e in stream] == ["PeerNominated", "RatersNominated"]
    assert {e.actor for e in stream} == {"mgr"}
    # One command, one append: the nomination and the group's counts share its correlation.
    assert stream[0].correlation_id == stream[1].correlation_id
    counts = stream[1].payload
    assert (counts["approved_peers"], counts["pending_peers"], counts["peers_needed"]) == (0, 1, 3)
    assert "p1" not in str(counts)


async def test_a_repeated_nomination_records_nothing_and_reveals_nothing(
    spring: Campaigns, uow: MemoryAssessment
) -> None:
    await nominations.nominate(spring, CAMPAIGN, "ann", "p1", "mgr", NOW)
    before = await uow.work.events.read_stream(subject_stream_of(CAMPAIGN, "ann"))
    again = await nominations.nominate(spring, CAMPAIGN, "ann", "p1", "ann", NOW)
    assert again == Nomination("ann", "p1", "ann")
    assert await uow.work.events.read_stream(subject_stream_of(CAMPAIGN, "ann")) == before


async def test_only_the_subject_or_their_manager_nominates_and_only_the_manager_decides(
    spring: Campaigns, uow: MemoryAssessment
) -> None:
    with pytest.raises(NotEntitled):
        await nominations.nominate(spring, CAMPAIGN, "ann", "p1", "p2", NOW)
    await nominations.nominate(spring, CAMPAIGN, "ann", "p1", "ann", NOW)
    with pytest.raises(NotEntitled):
        await nominations.decide_nomination(spring, CAMPAIGN, "ann", "p1", True, "ann", NOW)
    with pytest.raises(NominationRefused, match="no pending nomination"):
        await nominations.decide_nomination(spring, CAMPAIGN, "ann", "p2", True, "mgr", NOW)
    with pytest.raises(NominationRefused, match="already rates"):
        await nominations.nominate(spring, CAMPAIGN, "ann", "r1", "ann", NOW)
    with pytest.raises(NotInCampaign):
        await nominations.nominate(spring, CAMPAIGN, "p1", "p2", "p1", NOW)
    assert await uow.work.records.approved_peers(CAMPAIGN) == []


async def test_a_rejected_peer_is_recorded_as_rejected_and_rates_nobody(
    spring: Campaigns, uow: MemoryAssessment
) -> None:
    await nominations.nominate(spring, CAMPAIGN, "ann", "p1", "ann", NOW)
    decided = await nominations.decide_nomination(spring, CAMPAIGN, "ann", "p1", False, "mgr", NOW)
    assert decided.state == "rejected"
    assert uow.work.records.nominations == {(CAMPAIGN, "ann", "p1"): "rejected"}
    assert await rating.my_assignments(spring, CAMPAIGN, "p1") == []


async def test_the_subject_sees_only_their_own_nominations(spring: Campaigns) -> None:
    await nominations.nominate(spring, CAMPAIGN, "ann", "p1", "ann", NOW)
    await nominations.nominate(spring, CAMPAIGN, "ann", "p2", "mgr", NOW)
    mine = await nominations.nominations(spring, CAMPAIGN, "ann", "ann", hr=False)
    assert [n.peer for n in mine] == ["p1"]
    managers = await nominations.nominations(spring, CAMPAIGN, "ann", "mgr", hr=False)
    assert [n.peer for n in managers] == ["p1", "p2"]
    hrs = await nominations.nominations(spring, CAMPAIGN, "ann", "hr-1", hr=True)
    assert [n.peer for n in hrs] == ["p1", "p2"]
    with pytest.raises(NotAllowed):
        await nominations.nominations(spring, CAMPAIGN, "ann", "p1", hr=False)
