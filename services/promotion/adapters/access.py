"""Who may call each route of the promotion service. Managers above a person nominate,
endorse and appeal for them; HR publishes criteria and records calibration confirmations;
the decider role (`promotion_committee` unless configured otherwise) decides and hears
appeals; `auditor` reads everything and changes nothing; a person reads their own record."""

from __future__ import annotations

from libs.platform.access import ANYONE, MANAGER, SUBJECT, Access, allow
from libs.replicas.access import FRAMEWORK_VERSIONS

DECIDER = "promotion_committee"
RECORD = allow(SUBJECT, MANAGER, "hr_admin", "auditor", DECIDER)
OVERSIGHT = allow("hr_admin", "auditor")

ACCESS: dict[str, Access] = {
    "GET /criteria": allow(ANYONE),
    "POST /criteria": allow("hr_admin"),
    "GET /people/{employee_id}/readiness": RECORD,
    "GET /people/{employee_id}/history": RECORD,
    "GET /cycles/{cycle_id}/history": OVERSIGHT,
    "POST /cases": allow(MANAGER, "hr_admin"),
    "GET /cases/{case_id}": RECORD,
    "POST /cases/{case_id}/endorsement": allow(MANAGER),
    "POST /cases/{case_id}/evidence": allow(SUBJECT, MANAGER, "hr_admin"),
    "POST /cases/{case_id}/confirmation": allow("hr_admin"),
    "POST /cases/{case_id}/evaluation": allow(MANAGER, "hr_admin", DECIDER),
    "POST /cases/{case_id}/decision": allow(DECIDER),
    "POST /cases/{case_id}/appeal": allow(SUBJECT, MANAGER),
    "POST /cases/{case_id}/appeal/outcome": allow(DECIDER),
    "GET /cases/{case_id}/as-decided": RECORD,
    "GET /audit/export": RECORD,
    "GET /fairness": OVERSIGHT,
    **FRAMEWORK_VERSIONS,
}
