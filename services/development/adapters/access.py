"""Who may call each route of the development service: a person reads their own gaps and
plan, their manager reads and edits them, `hr_admin` everything, including departments,
catalog coverage and course effectiveness; `privacy_officer` what it holds of a person."""

from __future__ import annotations

from libs.platform.access import MANAGER, SUBJECT, Access, allow
from libs.privacy.http import ACCESS as PRIVACY_REQUESTS
from libs.replicas.access import FRAMEWORK_VERSIONS

HR = allow("hr_admin")
READ = allow(SUBJECT, MANAGER, "hr_admin")
EDIT = allow(MANAGER, "hr_admin")

ACCESS: dict[str, Access] = {
    "GET /gaps/{employee_id}": READ,
    "GET /gaps/{employee_id}/against": READ,
    "GET /teams/{manager_id}/gaps": EDIT,
    "GET /departments/{department}/gaps": HR,
    "GET /plans/{employee_id}": READ,
    "POST /plans/{employee_id}/actions": EDIT,
    "POST /plans/{employee_id}/actions/{action_id}/removal": EDIT,
    "GET /coverage": HR,
    "GET /courses/effectiveness": HR,
    **FRAMEWORK_VERSIONS,
    **PRIVACY_REQUESTS,
}
