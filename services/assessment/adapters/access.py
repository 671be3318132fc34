"""Who may call each route of the assessment service. `hr_admin` runs campaigns and
calibration and reads the org chart; a subject and their manager nominate peers, rate
(self and manager groups) and read the subject's anonymised results, and only the manager
decides nominations; every caller reads their own assignments and results; a privacy officer
reads all the service holds about a person."""

from __future__ import annotations

from libs.platform.access import ANYONE, MANAGER, SUBJECT, Access, allow
from libs.privacy.http import ACCESS as PRIVACY
from libs.replicas.access import FRAMEWORK_VERSIONS

HR = allow("hr_admin")
OWN = allow(ANYONE)
RATERS = allow(SUBJECT, MANAGER)

ACCESS: dict[str, Access] = {
    "GET /org-chart/people/{employee_id}": HR,
    "GET /org-chart/people/{employee_id}/reports": HR,
    "POST /campaigns": HR,
    "POST /campaigns/{campaign_id}/nominations": allow(SUBJECT, MANAGER),
    "POST /campaigns/{campaign_id}/nominations/{subject}/{peer}": allow(MANAGER),
    "GET /campaigns/{campaign_id}/nominations/{subject}": allow(SUBJECT, MANAGER, "hr_admin"),
    "GET /campaigns/{campaign_id}/assignments/mine": OWN,
    "GET /campaigns/{campaign_id}/questionnaires/{subject}": RATERS,
    # Refused like any other invalid submission: 422 with every problem named, one of them
    # "not an assigned rater" (a rater replaced during the campaign gets the same answer).
    "PUT /campaigns/{campaign_id}/submissions/{subject}": allow(SUBJECT, MANAGER, refused=422),
    "POST /campaigns/{campaign_id}/reminders": HR,
    "POST /campaigns/{campaign_id}/close": HR,
    "GET /campaigns/{campaign_id}/non-responders": HR,
    "GET /campaigns/{campaign_id}/results/me": OWN,
    "GET /campaigns/{campaign_id}/results/me/export": OWN,
    "GET /campaigns/{campaign_id}/results": HR,
    "GET /campaigns/{campaign_id}/results/{subject}": allow(SUBJECT, MANAGER),
    "POST /calibrations": HR,
    "GET /calibrations/{session_id}": HR,
    "GET /calibrations/{session_id}/scores": HR,
    "GET /calibrations/{session_id}/rater-offsets": HR,
    "GET /calibrations/{session_id}/inconsistent-anchors": HR,
    "GET /calibrations/{session_id}/outliers": HR,
    "POST /calibrations/{session_id}/adjustments": HR,
    "POST /calibrations/{session_id}/complete": HR,
    "GET /calibrations/{session_id}/standard-term-export": HR,
    **FRAMEWORK_VERSIONS,
    **PRIVACY,
}
