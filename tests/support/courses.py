"""Courses as the LMS catalog describes them, for tests of the development service."""

from __future__ import annotations

from libs.events.schemas.lms import Course, CourseCompetency


def course(course_id: str, competency: str, to_level: int = 3) -> Course:
    """A six-hour online course that builds one competency from scratch to `to_level`."""
    return Course(
        course_id=course_id,
        title=f"Course {course_id}",
        format="online",
        duration_hours=6,
        builds=[CourseCompetency(competency=competency, from_level=0, to_level=to_level)],
    )
