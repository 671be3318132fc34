"""What the promotion service keeps of other contexts' events: calibrated scores (for
readiness) and protected attributes (for fairness monitoring), each in the transaction the
consumer records the event in."""

from __future__ import annotations

from libs.events.envelope import Envelope
from libs.events.schemas.assessment import CalibrationCompleted
from libs.events.schemas.hris import ProtectedAttributeRecorded
from services.promotion.application.ports import Work


async def on_calibration(tx: Work, envelope: Envelope, event: CalibrationCompleted) -> None:
    await tx.records.record_calibration(event, envelope.occurred_at)


async def on_protected_attribute(
    tx: Work, envelope: Envelope, event: ProtectedAttributeRecorded
) -> None:
    await tx.records.record_attribute(envelope, event)
