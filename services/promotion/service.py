"""The promotion service.

Promotion criteria, readiness, cases (nomination, endorsement, evidence, evaluation,
calibration confirmation, decision, appeal) and the tamper-evident decision log every step
lands in, with audit queries, exports and fairness monitoring.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from libs.events.consumer import EventHandler
from libs.events.schemas.assessment import CalibrationCompleted
from libs.events.schemas.hris import ProtectedAttributeRecorded
from libs.platform.access import declare
from libs.platform.auth import ROLES
from libs.platform.runtime import Runtime, ServiceDefinition, ServiceParts, create_api
from libs.privacy.parts import privacy_parts
from libs.privacy.requests import MIGRATIONS as REQUEST_MIGRATIONS
from libs.replicas.cycles import MIGRATIONS as CYCLE_MIGRATIONS
from libs.replicas.cycles import KnownCycles
from libs.replicas.framework_versions import MIGRATIONS as FRAMEWORK_MIGRATIONS
from libs.replicas.org_chart import MIGRATIONS as ORG_CHART_MIGRATIONS
from services.promotion.adapters import access, http
from services.promotion.adapters.activities import (
    ErasingPersonalData,
    PromotionActivities,
    clearance_activity,
)
from services.promotion.adapters.checkpoints import CheckpointDirectory, KeyFile, sign_on_schedule
from services.promotion.adapters.postgres import MIGRATIONS
from services.promotion.adapters.postgres.work import Database
from services.promotion.application import reactions
from services.promotion.application.checkpoints import Checkpoints
from services.promotion.application.promotion import Promotion

NAME = "promotion"


def build(runtime: Runtime) -> ServiceParts:
    decider = runtime.settings.promotion_decider_role
    if decider not in ROLES:
        raise ValueError(
            f"TALENTLEDGER_PROMOTION_DECIDER_ROLE={decider!r} is not a role; choose from {ROLES}"
        )
    api = create_api(NAME, __doc__ or "")
    http.install(api)
    database = Database(runtime.store)
    promotion = Promotion(database, decider)
    api.state.promotion = promotion
    privacy = privacy_parts(NAME, runtime, api, ErasingPersonalData(promotion))
    parts = database.frameworks.install(api, runtime)
    declare(api, access.rules(decider))
    cycles = KnownCycles(NAME)
    handlers = [
        EventHandler(
            NAME, "calibrations", CalibrationCompleted, database.consumer(reactions.on_calibration)
        ),
        EventHandler(
            NAME,
            "protected-attributes",
            ProtectedAttributeRecorded,
            database.consumer(reactions.on_protected_attribute),
        ),
    ]
    settings = runtime.settings
    checkpoints = Checkpoints(
        database, KeyFile(settings.checkpoint_key), CheckpointDirectory(settings.checkpoints)
    )

    async def schedule(stop: asyncio.Event) -> None:
        await sign_on_schedule(checkpoints, stop, settings.checkpoint_interval)

    return replace(
        parts,
        handlers=[
            *parts.handlers,
            *database.org_chart.handlers(NAME),
            *cycles.handlers(),
            *privacy.handlers,
            *handlers,
        ],
        activities=[
            *parts.activities,
            *PromotionActivities(promotion, cycles, runtime.pool, checkpoints).all(),
            clearance_activity(promotion, runtime.pool, privacy.erasures),
            *privacy.activities,
        ],
        background=[*parts.background, schedule],
    )


definition = ServiceDefinition(
    name=NAME,
    build=build,
    migrations=[
        FRAMEWORK_MIGRATIONS,
        ORG_CHART_MIGRATIONS,
        CYCLE_MIGRATIONS,
        REQUEST_MIGRATIONS,
        MIGRATIONS,
    ],
)
