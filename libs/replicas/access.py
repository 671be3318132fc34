"""Who may call the routes the replicas add to a service."""

from __future__ import annotations

from libs.platform.access import ANYONE, Access, allow

FRAMEWORK_VERSIONS: dict[str, Access] = {"GET /framework-versions": allow(ANYONE)}
