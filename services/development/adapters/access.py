"""Who may call each route of the development service: a person reads their own gaps and
plan, their manager reads and edits them, `hr_admin` everything, including departments,
catalog coverage, course effectiveness and the reports; `privacy_officer` what it holds of a
person; a manager themself (not the manager above them) and HR a team's gaps and plans.
Goals: the employee proposes their own and their manager agrees; HR sets them directly.
Plan actions likewise: the employee proposes and marks them, their manager approves and
comments; the manager or HR aims a plan at a target position."""

from __future__ import annotations

from libs.platform.access import MANAGER, SUBJECT, Access, allow
from libs.privacy.http import ACCESS as PRIVACY_REQUESTS
from libs.replicas.access import FRAMEWORK_VERSIONS

HR = allow("hr_admin")
READ = allow(SUBJECT, MANAGER, "hr_admin")
EDIT = allow(MANAGER, "hr_admin")
# Goals: the employee proposes their own (HR sets them), their manager agrees, both check
# in, any of the three drops one (services/development/application/goals.py).
PROPOSE = allow(SUBJECT, "hr_admin")
PROGRESS = allow(SUBJECT, MANAGER)
DROP = allow(SUBJECT, MANAGER, "hr_admin")
# Plans: the employee proposes actions (their manager and HR add them in force) and marks
# them; their current manager approves and comments (services/development/application/
# development.py).
ADD_ACTION = allow(SUBJECT, MANAGER, "hr_admin")
# A team's gaps and plans: the manager whose team it is (the route's subject) and HR; not
# the manager's own manager (services/development/application/development.py).
TEAM = allow(SUBJECT, "hr_admin")
# A plan aimed at a target position is in force at once: the direct manager or HR (on
# another person's plan) aims it, not the employee.
AIM = allow(MANAGER, "hr_admin")
OWNER = allow(SUBJECT)
THEIR_MANAGER = allow(MANAGER)

ACCESS: dict[str, Access] = {
    "GET /gaps/{employee_id}": READ,
    "GET /gaps/{employee_id}/against": READ,
    "GET /teams/{manager_id}/gaps": TEAM,
    "GET /departments/{department}/gaps": HR,
    "GET /reports/gaps": HR,
    "GET /reports/plans": HR,
    "GET /reports/goals": HR,
    "GET /plans/{employee_id}": READ,
    "POST /plans/{employee_id}/target": AIM,
    "POST /plans/{employee_id}/actions": ADD_ACTION,
    "POST /plans/{employee_id}/actions/{action_id}/removal": EDIT,
    "POST /plans/{employee_id}/actions/{action_id}/decision": THEIR_MANAGER,
    "POST /plans/{employee_id}/actions/{action_id}/progress": OWNER,
    "POST /plans/{employee_id}/actions/{action_id}/comments": THEIR_MANAGER,
    "GET /teams/{manager_id}/plans": TEAM,
    "GET /coverage": HR,
    "GET /courses/effectiveness": HR,
    "POST /goals": PROPOSE,
    "POST /goals/population": HR,
    "POST /goals/{goal_id}/agreement": EDIT,
    "POST /goals/{goal_id}/check-ins": PROGRESS,
    "POST /goals/{goal_id}/drop": DROP,
    "GET /goals/{goal_id}": READ,
    "GET /people/{employee_id}/goals": READ,
    **FRAMEWORK_VERSIONS,
    **PRIVACY_REQUESTS,
}
