"""Who may call each route of the cycle orchestrator: `hr_admin` starts, follows and steers
cycles; a manager sees only whether a cycle waits on them, and acknowledges their own gap
review (HR may on their behalf); a privacy officer alone makes and follows requests about a
person's data."""

from __future__ import annotations

from libs.platform.access import MANAGER, Access, allow
from libs.privacy.requests import ERASING_ROLE

HR = allow("hr_admin")
PRIVACY_OFFICER = allow(ERASING_ROLE)

ACCESS: dict[str, Access] = {
    "POST /cycles": HR,
    "GET /cycles/{cycle_id}": HR,
    "GET /cycles/{cycle_id}/waiting-on-me": allow("manager", "hr_admin"),
    "POST /cycles/{cycle_id}/calibration-completed": HR,
    "POST /cycles/{cycle_id}/{control}": HR,
    "DELETE /cycles/{cycle_id}": HR,
    "POST /cycles/{cycle_id}/gap-review/acknowledgements": allow(MANAGER, "hr_admin"),
    "POST /privacy/requests": PRIVACY_OFFICER,
    "GET /privacy/requests/{request_ref}": PRIVACY_OFFICER,
}
