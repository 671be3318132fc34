"""The promotion service.

Promotion criteria, readiness, decisions and the tamper-evident decision log.

Thin slice so far: it keeps the published framework versions it will pin its work to.
"""

from __future__ import annotations

from libs.replicas.framework_versions import replica_service

definition = replica_service("promotion", __doc__ or "")
