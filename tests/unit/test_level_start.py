"""The level start from a person's role facts (libs/replicas/people.py, `level_start`;
docs/domain.md §6, Readiness): the right day, or None while the facts cannot show it."""

from __future__ import annotations

from datetime import date

from libs.replicas.people import RoleFact, level_start


def fact(version: int, on: date | None, level: str, track: str = "ic") -> RoleFact:
    return RoleFact(
        stream_version=version, effective_on=on, job_family="eng", track=track, level=level
    )


HIRED = fact(1, date(2024, 1, 2), "L2")
PROMOTED = fact(2, date(2024, 9, 1), "L3")
MOVED = fact(4, date(2025, 2, 1), "L3")  # another department, same level


def test_a_department_move_keeps_the_start_once_nothing_is_missing_below_it() -> None:
    assert level_start([HIRED, PROMOTED, MOVED], {1, 2, 3, 4}) == date(2024, 9, 1)


def test_a_version_not_seen_below_the_run_leaves_the_start_unknown() -> None:
    """Version 3 may be a role change to L3 before the move: no day rather than 2025-02-01."""
    assert level_start([HIRED, PROMOTED, MOVED], {1, 2, 4}) is None
    assert level_start([MOVED], {4}) is None


def test_the_stream_start_bounds_the_run() -> None:
    assert level_start([HIRED], {1}) == date(2024, 1, 2)
    assert level_start(
        [fact(1, date(2024, 1, 2), "L3"), fact(2, date(2026, 1, 5), "L3")], {1, 2}
    ) == (date(2024, 1, 2))


def test_a_run_starting_at_a_fact_of_unknown_day_has_no_start() -> None:
    """A position held before days were kept (not a hiring): the run starts there."""
    held = fact(2, None, "L3")
    assert level_start([held, fact(3, date(2026, 1, 5), "L3")], {2, 3}) is None
    # A promotion after it starts a new run, whose day is known.
    assert level_start([held, fact(3, date(2026, 1, 5), "L4")], {2, 3}) == date(2026, 1, 5)
    # An older fact of the same level arriving late reaches below it.
    assert level_start(
        [HIRED, fact(2, date(2025, 3, 1), "L3"), held.model_copy(update={"stream_version": 3})],
        {1, 2, 3},
    ) == date(2025, 3, 1)


def test_no_fact_no_start() -> None:
    assert level_start([], {1, 2}) is None
