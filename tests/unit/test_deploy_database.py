"""The deployment's database set-up matches what the code creates and expects."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import yaml
from typer.testing import CliRunner

from libs.events.migrations.roles import OWNER_ROLE, service_role
from talentledger.cli import app
from talentledger.stack.supervisor import SERVICES

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_the_compose_role_script_is_what_talentledger_db_roles_prints() -> None:
    printed = CliRunner().invoke(app, ["db", "roles", "--database", "talentledger"])
    assert printed.exit_code == 0, printed.output
    script = (DEPLOY / "postgres" / "10-talentledger-roles.sql").read_text()
    assert script == printed.output, "regenerate it: talentledger db roles > deploy/postgres/..."


def test_compose_runs_each_service_as_its_own_role_and_migrates_as_the_owner() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    for name in SERVICES:
        url = compose[name]["environment"]["DATABASE_URL"]
        assert urlsplit(url).username == service_role(name)
        assert "DATABASE_OWNER_URL" not in compose[name]["environment"]
    owner_url = compose["migrate"]["environment"]["DATABASE_OWNER_URL"]
    assert urlsplit(owner_url).username == OWNER_ROLE
    passwords = (DEPLOY / "postgres" / "20-talentledger-passwords.sh").read_text()
    for role in (OWNER_ROLE, *(service_role(name) for name in SERVICES)):
        assert f"ALTER ROLE {role} PASSWORD" in passwords
