"""The people held before replica_oc_0002 as a role fact each, the versions of the HRIS
events applied, and every level start found again by the rule that never gives a wrong day.

Revision ID: replica_oc_0003

People whose hiring (version 1) and current position are role facts kept since
replica_oc_0002 have every hiring and role change of theirs kept: each version up to the
newest applied (position or manager) that is no fact was a manager change or a leaving, and
counts as seen, so their level start stands.

Before this revision, the first role fact a person held from before replica_oc_0002 received
became their whole history: a department move dated their level. Now each such person's
position on their row is a fact of its own, at the version that last set it, dated by the
hiring when that version is the hiring (version 1) and unknown otherwise. Which other
versions were applied is not known: only the facts and a manager change newer than the
row's position count as seen (a manager's version below it may be the hiring, a role fact
not kept). A run of facts reaching below a version not seen is "unknown", not a day that
may be wrong (libs/replicas/people.py, `level_start`).
"""

import sqlalchemy as sa
from alembic import op

revision = "replica_oc_0003"
down_revision = "replica_oc_0002"
branch_labels = None
depends_on = None

# `level_start` as one statement over everyone (migrations do not import the code they
# migrate for): below the newest fact, the highest version that is a fact in another
# position or was never seen bounds the run; a bound not seen leaves the start unknown,
# otherwise the run starts at the first fact above it.
RECOMPUTE = """
WITH newest AS (
  SELECT DISTINCT ON (employee_id) employee_id, stream_version AS n, job_family, track, level
  FROM role_facts ORDER BY employee_id, stream_version DESC
), bound AS (
  SELECT n.employee_id, n.n,
    max(v) FILTER (
      WHERE (f.stream_version IS NOT NULL
             AND (f.job_family, f.track, f.level) IS DISTINCT FROM (n.job_family, n.track, n.level))
         OR (f.stream_version IS NULL AND s.stream_version IS NULL)
    ) AS b
  FROM newest n
  CROSS JOIN LATERAL generate_series(1, n.n - 1) AS v
  LEFT JOIN role_facts f ON (f.employee_id, f.stream_version) = (n.employee_id, v)
  LEFT JOIN hris_versions s ON (s.employee_id, s.stream_version) = (n.employee_id, v)
  GROUP BY n.employee_id, n.n
), started AS (
  SELECT n.employee_id,
    CASE WHEN b.b IS NOT NULL AND NOT EXISTS (
           SELECT FROM role_facts f WHERE f.employee_id = n.employee_id AND f.stream_version = b.b)
         THEN NULL
         ELSE (SELECT f.effective_on FROM role_facts f
               WHERE f.employee_id = n.employee_id AND f.stream_version > coalesce(b.b, 0)
               ORDER BY f.stream_version LIMIT 1)
    END AS since
  FROM newest n LEFT JOIN bound b USING (employee_id)
)
UPDATE people p SET level_since = started.since
FROM started WHERE p.employee_id = started.employee_id
"""


def upgrade() -> None:
    op.alter_column("role_facts", "effective_on", nullable=True)
    # Every HRIS event of a person applied here, by version: a version missing below a run
    # of facts may be a fact of the same position, which would start it earlier.
    op.create_table(
        "hris_versions",
        sa.Column("employee_id", sa.Text, primary_key=True),
        sa.Column("stream_version", sa.Integer, primary_key=True),
    )
    # Before the position facts below are added: only facts kept since replica_oc_0002
    # show a complete history.
    op.execute(
        "INSERT INTO hris_versions (employee_id, stream_version) "
        "SELECT p.employee_id, v FROM people p "
        "CROSS JOIN LATERAL generate_series(1, greatest(p.role_version, p.manager_version)) v "
        "WHERE EXISTS (SELECT FROM role_facts f WHERE f.employee_id = p.employee_id "
        "              AND f.stream_version = 1) "
        "AND EXISTS (SELECT FROM role_facts f WHERE f.employee_id = p.employee_id "
        "            AND f.stream_version = p.role_version) "
        "ON CONFLICT DO NOTHING"
    )
    op.execute(
        "INSERT INTO role_facts (employee_id, stream_version, effective_on, job_family, track, "
        "level) SELECT employee_id, role_version, "
        "CASE WHEN role_version = 1 THEN hired_on END, job_family, track, level "
        "FROM people WHERE role_version > 0 AND job_family IS NOT NULL AND track IS NOT NULL "
        "AND level IS NOT NULL ON CONFLICT DO NOTHING"
    )
    op.execute(
        "INSERT INTO hris_versions (employee_id, stream_version) "
        "SELECT employee_id, stream_version FROM role_facts "
        "UNION SELECT employee_id, manager_version FROM people "
        "WHERE manager_version > role_version "
        "ON CONFLICT DO NOTHING"
    )
    op.execute(RECOMPUTE)
