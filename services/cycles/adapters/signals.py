"""Events from the services, translated into signals to the cycle they belong to.

A campaign opened by a cycle has the id `<cycle workflow id>.<number>`, so the workflow to
signal follows from the campaign id. Events of campaigns no cycle opened (HR ran one by
hand), and of cycles that have ended, signal nothing. Signals are idempotent in the
workflow, so a redelivered event signals again harmlessly.
"""

from __future__ import annotations

import logging
from typing import Any

from psycopg import AsyncConnection
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from libs.events.consumer import EventHandler
from libs.events.envelope import Envelope
from libs.events.schemas.assessment import CalibrationCompleted, CampaignClosed
from libs.workflows.messages import (
    series_of,
)
from services.cycles.workflows.review_cycle import ReviewCycleWorkflow

log = logging.getLogger(__name__)


class CycleSignals:
    def __init__(self, client: Client, service: str) -> None:
        self.client = client
        self.service = service

    async def _signal(self, campaign_id: str, signal: Any, arg: str) -> None:
        series = series_of(campaign_id)
        if series is None:
            return
        try:
            await self.client.get_workflow_handle(series).signal(signal, arg)
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise  # Temporal unreachable: the consumer retries the event
            log.info("no running cycle %s for campaign %s: nothing to signal", series, campaign_id)

    async def campaign_closed(
        self, conn: AsyncConnection[Any], envelope: Envelope, event: CampaignClosed
    ) -> None:
        await self._signal(
            event.campaign_id, ReviewCycleWorkflow.campaign_closed, event.campaign_id
        )

    async def calibration_completed(
        self, conn: AsyncConnection[Any], envelope: Envelope, event: CalibrationCompleted
    ) -> None:
        await self._signal(
            event.campaign_id, ReviewCycleWorkflow.calibration_completed, event.session_id
        )

    def handlers(self) -> list[EventHandler]:
        return [
            EventHandler(self.service, "campaigns-closed", CampaignClosed, self.campaign_closed),
            EventHandler(
                self.service, "calibrations", CalibrationCompleted, self.calibration_completed
            ),
        ]
