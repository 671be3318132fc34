"""Events exchanged with the learning management system (LMS).

Inbound, published by an LMS integration: the catalog of courses, each mapped to the
competencies and proficiency levels it builds, and course completions. Outbound, published
by the development service: enrolment requests for the course actions of development plans.
Course ids are the LMS's own.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from libs.events.registry import IntegrationEvent, registry
from libs.events.schemas.framework import Key
from libs.events.schemas.hris import EmployeeId

CourseFormat = Literal["classroom", "online", "blended", "workshop", "self_paced"]


class CourseCompetency(BaseModel):
    """A competency a course builds, from one proficiency level to a higher one."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    competency: Key
    from_level: int = Field(ge=0, le=5, description="the proficiency the course starts from")
    to_level: int = Field(ge=1, le=5, description="the proficiency it brings learners to")

    @model_validator(mode="after")
    def _upwards(self) -> CourseCompetency:
        if self.to_level <= self.from_level:
            raise ValueError(f"to_level {self.to_level} must be above from_level {self.from_level}")
        return self


class Course(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    course_id: str = Field(min_length=1, max_length=120)
    title: str = Field(min_length=1, max_length=300)
    format: CourseFormat
    duration_hours: float = Field(gt=0, le=2000)
    builds: list[CourseCompetency] = Field(min_length=1)
    retired: bool = Field(False, description="no longer offered: never planned again")


@registry.event
class CourseCatalogUpdated(IntegrationEvent):
    """Courses added or changed in the LMS catalog (upserted by course id; a course leaves
    the catalog by being sent with `retired: true`)."""

    event_type = "CourseCatalogUpdated"
    context = "lms"
    schema_version = 1

    courses: list[Course] = Field(min_length=1)


@registry.event
class CourseCompleted(IntegrationEvent):
    """An employee completed a course."""

    event_type = "CourseCompleted"
    context = "lms"
    schema_version = 1

    employee_id: EmployeeId
    course_id: str = Field(min_length=1, max_length=120)
    completed_on: date


@registry.event
class EnrolmentRequested(IntegrationEvent):
    """A development plan asks the LMS to enrol an employee in a course."""

    event_type = "EnrolmentRequested"
    context = "development"
    schema_version = 1

    employee_id: EmployeeId
    course_id: str
    plan_id: str
    competency: Key = Field(description="the competency whose gap the course closes")
