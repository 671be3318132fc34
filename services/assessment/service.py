"""The assessment service.

360 campaigns, raters, submissions, anonymity, aggregation and calibration.

Thin slice so far: it keeps the published framework versions it will pin its work to.
"""

from __future__ import annotations

from libs.replicas.framework_versions import replica_service

definition = replica_service("assessment", __doc__ or "")
