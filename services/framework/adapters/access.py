"""Who may call each route of the framework service: `hr_admin` edits, imports, publishes
and reads drafts, anchor reviews, revision items and health reports, invites contributors,
opens review rounds, records reviews and runs calibrations before launch; managers and
employees read and comment on the drafts that invite them, edit the families, competencies
and role profiles their sections cover, give their verdict in the review rounds that name
them and rate in the calibrations that invite them (the service refuses the others, 403);
every authenticated caller reads published versions; `hr_admin` and `auditor` read the
frameworks' review cadence and look competencies up by standard term; `privacy_officer`
what it holds of a person."""

from __future__ import annotations

from libs.platform.access import ANYONE, Access, allow
from libs.privacy.http import ACCESS as PRIVACY_REQUESTS

HR = allow("hr_admin")
READ = allow(ANYONE)
RATERS = allow("manager", "employee")
# HR, and the managers and employees the draft invites (the service checks the invitation).
AUTHORS = allow("hr_admin", "manager", "employee")
REVIEWERS = allow("manager", "employee")
DRAFT = "/frameworks/{framework_id}/draft"
PRELAUNCH = "/frameworks/{framework_id}/prelaunch-calibrations"
UPKEEP = allow("hr_admin", "auditor")

ACCESS: dict[str, Access] = {
    "POST /frameworks": HR,
    f"GET {DRAFT}": AUTHORS,
    "PUT /frameworks/{framework_id}/draft": HR,
    "POST /frameworks/import": HR,
    "POST /frameworks/{framework_id}/draft/import": HR,
    "PATCH /frameworks/{framework_id}/draft/settings": HR,
    "POST /frameworks/{framework_id}/draft/pushes": HR,
    **{
        f"{method} {DRAFT}/{segment}/{{key}}": HR
        for method in ("PUT", "DELETE")
        for segment in ("categories", "lateral-paths", "rules")
    },
    **{
        f"{method} {DRAFT}/{segment}/{{key}}": AUTHORS
        for method in ("PUT", "DELETE")
        for segment in ("families", "competencies", "roles")
    },
    f"POST {DRAFT}/contributors": HR,
    f"GET {DRAFT}/contributors": HR,
    f"POST {DRAFT}/comments": AUTHORS,
    f"GET {DRAFT}/comments": AUTHORS,
    f"POST {DRAFT}/review-rounds": HR,
    f"GET {DRAFT}/review": AUTHORS,
    f"POST {DRAFT}/review/verdicts": REVIEWERS,
    "GET /frameworks/{framework_id}/draft/roles/{role}/effective": HR,
    "GET /frameworks/{framework_id}/draft/export": HR,
    "POST /frameworks/{framework_id}/versions": HR,
    "GET /frameworks/{framework_id}/anchor-reviews": HR,
    "GET /frameworks/{framework_id}/revision-items": HR,
    "GET /frameworks/{framework_id}/health": HR,
    f"POST {PRELAUNCH}": HR,
    f"GET {PRELAUNCH}/{{exercise_id}}": HR,
    f"POST {PRELAUNCH}/{{exercise_id}}/close": HR,
    f"GET {PRELAUNCH}/{{exercise_id}}/report": HR,
    f"GET {PRELAUNCH}/{{exercise_id}}/examples": RATERS,
    f"PUT {PRELAUNCH}/{{exercise_id}}/examples/{{example}}/rating": RATERS,
    "POST /frameworks/{framework_id}/reviews": HR,
    "GET /framework-cadence": UPKEEP,
    "GET /frameworks/{framework_id}/cadence": UPKEEP,
    "GET /competencies": UPKEEP,
    "GET /frameworks/{framework_id}/standard-term-mapping": UPKEEP,
    "GET /frameworks": READ,
    "GET /frameworks/{framework_id}/versions": READ,
    "GET /frameworks/{framework_id}/published": READ,
    "GET /frameworks/{framework_id}/published/roles/{role}": READ,
    "GET /frameworks/{framework_id}/published/grid": READ,
    "GET /frameworks/{framework_id}/published/export": READ,
    "GET /frameworks/{framework_id}/diff": READ,
    "GET /framework-format/schema.json": READ,
    **PRIVACY_REQUESTS,
}
