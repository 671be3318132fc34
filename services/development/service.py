"""The development service.

Gaps, 70/20/10 development plans, the L&D catalog and re-assessment.

Thin slice so far: it keeps the published framework versions it will pin its work to.
"""

from __future__ import annotations

from libs.replicas.framework_versions import replica_service

definition = replica_service("development", __doc__ or "")
