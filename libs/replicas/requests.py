"""What every service checks, before acting, of a request the cycles API recorded (a cycle,
an erasure): that the workflow scheduling the activity is the request's own, whether a
request not yet received may still arrive, and that the workflow carries the request's
grant. Anyone who reaches Temporal can start a workflow; only the cycles API's record
and grant say who a workflow acts for."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from datetime import timedelta

from temporalio import activity
from temporalio.exceptions import ApplicationError

from libs.workflows.messages import grant_digest


def scheduled_by(
    workflow_id: str, what: str, refused: Callable[[str], ApplicationError]
) -> activity.Info:
    """The running activity's info, if `workflow_id` scheduled it; `refused(why)` otherwise."""
    if not activity.in_activity():
        raise refused(f"{what}: its activities run only inside its workflow")
    info = activity.info()
    if info.workflow_id != workflow_id:
        raise refused(
            f"{what} belongs to workflow {workflow_id!r}, but workflow "
            f"{info.workflow_id!r} scheduled this activity"
        )
    return info


def may_still_arrive(info: activity.Info, grace: timedelta) -> bool:
    """Whether a request not received yet is still within `grace` of the activity's first
    schedule. Both times are the Temporal server's: no clock skew with this worker."""
    return info.current_attempt_scheduled_time - info.scheduled_time < grace


def carries_grant(digest: str, grant: str) -> bool:
    """Whether `grant` (from the workflow's input) is the one whose digest was recorded."""
    return hmac.compare_digest(digest, grant_digest(grant))
