"""Activity contracts between the review-cycle workflow and the services that run them
(docs/architecture.md §4).

Each activity is one `ActivityContract`: its name, the owning service's task queue, the
input and result models, its timeouts and its retry policy. The workflow calls an activity
only through `execute(contract, input)`, and a service registers its implementation under
`contract.name`, so `services/cycles` never imports a service: both sides share only this
module. A contract's name and task queue are in every recorded history: changing one
breaks the replay of cycles in flight.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy

from libs.workflows.messages import (
    CalibrationOpened,
    CampaignStarted,
    CampaignStep,
    CycleCases,
    ErasedData,
    ErasureClearance,
    ErasureOrder,
    ErasureOutcome,
    FrameworkConfirmation,
    FrameworkRef,
    GapMovement,
    GapReview,
    KeysDestroyed,
    MovementRequest,
    OpenCampaign,
    PromotionEvaluations,
    ResponseCount,
    SessionRef,
    StageChange,
    StageTrace,
)

In = TypeVar("In", bound=BaseModel)
Out = TypeVar("Out")


@dataclass(frozen=True)
class ActivityContract(Generic[In, Out]):
    """One activity as the workflow calls it and a service implements it."""

    name: str
    task_queue: str
    input: type[In]
    # The result's type as the data converter decodes it: a model, or a union of them.
    result: Any
    start_to_close: timedelta
    schedule_to_close: timedelta | None = None
    heartbeat: timedelta | None = None
    # None: Temporal's default policy (retry without end, backing off to 100 s).
    retry: RetryPolicy | None = None


async def execute(contract: ActivityContract[In, Out], argument: In) -> Out:
    """Run the activity from workflow code, on its service's task queue, and return its typed
    result; a wrong input fails the workflow task (and is retried) instead of reaching the
    service."""
    if not isinstance(argument, contract.input):
        raise TypeError(
            f"{contract.name} takes {contract.input.__name__}, not {type(argument).__name__}"
        )
    result: Out = await workflow.execute_activity(
        contract.name,
        argument,
        task_queue=contract.task_queue,
        result_type=contract.result,
        start_to_close_timeout=contract.start_to_close,
        schedule_to_close_timeout=contract.schedule_to_close,
        heartbeat_timeout=contract.heartbeat,
        retry_policy=contract.retry,
    )
    return result


# Replication through the broker takes moments; outages can take longer, so keep trying.
REPLICATION_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=250),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
)
# An attempt lost with its worker (a crash, a deploy) is retried once this passes, so it is
# kept short for the activities that are a few statements each, even for thousands of
# people; the one that walks every case heartbeats instead.
STEP_TIMEOUT = timedelta(minutes=1)
BATCH_TIMEOUT = timedelta(minutes=30)
HEARTBEAT = timedelta(seconds=30)
PINNING_TIMEOUT = timedelta(seconds=30)

# Each service's task queue is named after the service.
FRAMEWORK, ASSESSMENT, DEVELOPMENT, PROMOTION, CYCLES = (
    "framework",
    "assessment",
    "development",
    "promotion",
    "cycles",
)
# The services that keep a replica of the published framework versions.
REPLICATING = (ASSESSMENT, DEVELOPMENT, PROMOTION)


# -- pinning the framework version ---------------------------------------------------------


RESOLVE_FRAMEWORK = ActivityContract[FrameworkRef, FrameworkRef](
    name="framework.resolve_published_version",
    task_queue=FRAMEWORK,
    input=FrameworkRef,
    result=FrameworkRef,
    start_to_close=PINNING_TIMEOUT,
)


def confirm_framework(service: str) -> ActivityContract[FrameworkRef, FrameworkConfirmation]:
    """The activity by which `service` confirms it holds a framework version; retried until
    the version has replicated there, for up to an hour."""
    return ActivityContract[FrameworkRef, FrameworkConfirmation](
        name=f"{service}.confirm_framework_version",
        task_queue=service,
        input=FrameworkRef,
        result=FrameworkConfirmation,
        start_to_close=PINNING_TIMEOUT,
        schedule_to_close=timedelta(hours=1),
        retry=REPLICATION_RETRY,
    )


# -- the review cycle's stages ------------------------------------------------------------
# Each activity is idempotent: Temporal retries it after a timeout or a worker crash, so a
# repeat must find the work done and report it, never do it twice.


OPEN_CAMPAIGN = ActivityContract[OpenCampaign, CampaignStarted](
    name="assessment.open_campaign",
    task_queue=ASSESSMENT,
    input=OpenCampaign,
    result=CampaignStarted,
    start_to_close=STEP_TIMEOUT,
    retry=REPLICATION_RETRY,
)
SEND_REMINDERS = ActivityContract[CampaignStep, ResponseCount](
    name="assessment.send_reminders",
    task_queue=ASSESSMENT,
    input=CampaignStep,
    result=ResponseCount,
    start_to_close=STEP_TIMEOUT,
    retry=REPLICATION_RETRY,
)
CLOSE_CAMPAIGN = ActivityContract[CampaignStep, ResponseCount](
    name="assessment.close_campaign",
    task_queue=ASSESSMENT,
    input=CampaignStep,
    result=ResponseCount,
    start_to_close=STEP_TIMEOUT,
    retry=REPLICATION_RETRY,
)
OPEN_CALIBRATION = ActivityContract[CampaignStep, CalibrationOpened](
    name="assessment.open_calibration",
    task_queue=ASSESSMENT,
    input=CampaignStep,
    result=CalibrationOpened,
    start_to_close=STEP_TIMEOUT,
    retry=REPLICATION_RETRY,
)
# The gaps arrive with CalibrationCompleted: retried until they have, for up to a day.
GAP_REVIEW = ActivityContract[SessionRef, GapReview](
    name="development.gap_review",
    task_queue=DEVELOPMENT,
    input=SessionRef,
    result=GapReview,
    start_to_close=STEP_TIMEOUT,
    schedule_to_close=timedelta(days=1),
    retry=REPLICATION_RETRY,
)
GAP_MOVEMENT = ActivityContract[MovementRequest, GapMovement](
    name="development.gap_movement",
    task_queue=DEVELOPMENT,
    input=MovementRequest,
    result=GapMovement,
    start_to_close=STEP_TIMEOUT,
    retry=REPLICATION_RETRY,
)
EVALUATE_CYCLE = ActivityContract[CycleCases, PromotionEvaluations](
    name="promotion.evaluate_cycle",
    task_queue=PROMOTION,
    input=CycleCases,
    result=PromotionEvaluations,
    start_to_close=BATCH_TIMEOUT,
    heartbeat=HEARTBEAT,
    retry=REPLICATION_RETRY,
)
RECORD_STAGE = ActivityContract[StageChange, StageTrace | None](
    name="cycles.record_stage",
    task_queue=CYCLES,
    input=StageChange,
    result=StageTrace | None,
    start_to_close=timedelta(seconds=30),
    retry=REPLICATION_RETRY,
)


# -- erasing a person (docs/privacy.md, Requests) ------------------------------------------
# The erasure workflow's steps, each idempotent like the cycle's: clear the request against
# legal holds, destroy the person's data keys, then ask every service to erase and wait for
# each one's confirmation.

CLEAR_ERASURE = ActivityContract[ErasureOrder, ErasureClearance](
    name="promotion.clear_erasure",
    task_queue=PROMOTION,
    input=ErasureOrder,
    result=ErasureClearance,
    start_to_close=STEP_TIMEOUT,
    retry=REPLICATION_RETRY,
)
DESTROY_PERSONAL_KEYS = ActivityContract[ErasureOrder, KeysDestroyed](
    name="cycles.destroy_personal_keys",
    task_queue=CYCLES,
    input=ErasureOrder,
    result=KeysDestroyed,
    start_to_close=STEP_TIMEOUT,
    retry=REPLICATION_RETRY,
)
# Every process keeps a key it opened for `libs.personal.vault.CACHE_SECONDS`, and only the
# one that destroyed the keys forgets them at once: the workflow waits this long after the
# keys are destroyed before the services erase, so that no process still holds a key to
# write text of the person back into a read model after its scrub. A quarter minute more
# than the cache, for work in flight with a key taken just before it expired.
KEY_CACHES_EXPIRE = timedelta(seconds=75)
# Publishes how the request ended (`PersonErased`), once: a retry finds it recorded.
RECORD_ERASURE = ActivityContract[ErasureOutcome, None](
    name="cycles.record_erasure",
    task_queue=CYCLES,
    input=ErasureOutcome,
    result=None,
    start_to_close=timedelta(seconds=30),
    retry=REPLICATION_RETRY,
)
# The services that hold personal data, each erasing its own.
HOLDING_PERSONAL_DATA = (FRAMEWORK, ASSESSMENT, DEVELOPMENT, PROMOTION)


def erase_personal_data(service: str) -> ActivityContract[ErasureOrder, ErasedData]:
    """The activity by which `service` erases what it holds of a person and confirms it.

    One transaction, which cannot report progress: no heartbeat, only the time to close."""
    return ActivityContract[ErasureOrder, ErasedData](
        name=f"{service}.erase_personal_data",
        task_queue=service,
        input=ErasureOrder,
        result=ErasedData,
        start_to_close=BATCH_TIMEOUT,
        retry=REPLICATION_RETRY,
    )
