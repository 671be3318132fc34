"""Who may call each route of the promotion service. Managers above a person nominate,
endorse and appeal for them; HR publishes criteria, previews a draft of them, records
calibration confirmations and reads the readiness pipeline; the decider role
(`promotion_committee` unless configured otherwise) decides and hears appeals; `auditor`
reads everything and changes nothing; a person reads their own record. HR and `legal` place
and lift legal holds, which auditors and privacy officers read; a privacy officer reads what
the service holds about a person (docs/privacy.md, Requests)."""

from __future__ import annotations

from libs.platform.access import ANYONE, MANAGER, SUBJECT, Access, allow
from libs.privacy.http import ACCESS as RECORDS
from libs.replicas.access import FRAMEWORK_VERSIONS

OVERSIGHT = allow("hr_admin", "auditor")
HOLDING = allow("hr_admin", "legal")


def rules(decider: str) -> dict[str, Access]:
    """The rules, with the role the settings name as the decider."""
    record = allow(SUBJECT, MANAGER, "hr_admin", "auditor", decider)
    return {
        "GET /criteria": allow(ANYONE),
        "POST /criteria": allow("hr_admin"),
        "POST /criteria/preview": allow("hr_admin"),
        "GET /people/{employee_id}/readiness": record,
        "GET /reports/readiness": allow("hr_admin"),
        "GET /people/{employee_id}/history": record,
        "GET /cycles/{cycle_id}/history": OVERSIGHT,
        "POST /cases": allow(MANAGER, "hr_admin"),
        "GET /cases/{case_id}": record,
        "POST /cases/{case_id}/endorsement": allow(MANAGER),
        "POST /cases/{case_id}/evidence": allow(SUBJECT, MANAGER, "hr_admin"),
        "POST /cases/{case_id}/confirmation": allow("hr_admin"),
        "POST /cases/{case_id}/evaluation": allow(MANAGER, "hr_admin", decider),
        "POST /cases/{case_id}/decision": allow(decider),
        "POST /cases/{case_id}/appeal": allow(SUBJECT, MANAGER),
        "POST /cases/{case_id}/appeal/outcome": allow(decider),
        "GET /cases/{case_id}/as-decided": record,
        "GET /audit/export": record,
        "GET /fairness": OVERSIGHT,
        "POST /legal-holds": HOLDING,
        "POST /legal-holds/{hold_id}/lift": HOLDING,
        "GET /legal-holds": allow("hr_admin", "legal", "auditor", "privacy_officer"),
        **RECORDS,
        **FRAMEWORK_VERSIONS,
    }
