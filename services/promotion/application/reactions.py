"""What the promotion service keeps of other contexts' events: calibrated scores (for
readiness) and protected attributes (for fairness monitoring, their versions marked seen in
the org chart for the level start), each in the transaction the consumer records the event
in."""

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
    # An event of the employee stream the org chart does not receive: without its version
    # the level start of the person stays unknown (docs/domain.md §6, Readiness).
    await tx.org_chart.seen(envelope, event.employee_id)
