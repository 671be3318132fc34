"""A service's part of an erasure: the activity the erasure workflow calls on the service's
task queue, which checks the request, erases through the service's `PersonalDataHolder`
and confirms what it erased (docs/privacy.md, Requests)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from psycopg_pool import AsyncConnectionPool
from temporalio import activity

from libs.privacy.records import PersonalDataHolder
from libs.privacy.requests import KnownErasures
from libs.workflows.contracts import erase_personal_data
from libs.workflows.messages import ErasedData, ErasureOrder


def erasure_activity(
    service: str,
    pool: AsyncConnectionPool,
    requests: KnownErasures,
    holder: PersonalDataHolder,
    forget_keys: Callable[[str], None],
) -> Callable[[ErasureOrder], Awaitable[ErasedData]]:
    """`forget_keys(person)` drops the person's keys this process cached: their keys are
    destroyed before the services are asked, and no cached copy may open a seal after."""

    @activity.defn(name=erase_personal_data(service).name)
    async def erase(order: ErasureOrder) -> ErasedData:
        actor = await requests.acting_for(pool, order)
        forget_keys(order.employee_id)
        erased = await holder.erase(order.employee_id, order.request_ref, actor)
        return ErasedData(service=service, erased=erased)

    return erase
