"""A service refuses to start without the personal data master keys, rather than store
personal fields in clear; the embedded stack generates them (docs/privacy.md)."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from libs.personal.vault import MasterKeys
from libs.platform.runtime import ServiceDefinition, ServiceParts, serve
from libs.platform.settings import Settings


def _never_built(_: object) -> ServiceParts:
    raise AssertionError("the service was built without its master keys")


async def test_a_service_without_the_master_keys_does_not_start(tmp_path: Path) -> None:
    missing = tmp_path / "keys" / "personal-data.keys"
    settings = Settings.model_validate(
        {
            "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
            "TALENTLEDGER_HOME": tmp_path,
            "TALENTLEDGER_PERSONAL_DATA_KEYS_FILE": missing,
        }
    )
    refused = re.escape(f"svc cannot start: no personal data master keys at {missing}")
    with pytest.raises(SystemExit, match=refused):
        await serve(ServiceDefinition("svc", _never_built), settings)


def test_the_default_key_file_is_under_the_stack_home_and_generated_private(
    tmp_path: Path,
) -> None:
    path = Settings.model_validate({"TALENTLEDGER_HOME": tmp_path}).personal_data_keys
    assert path == tmp_path / "keys" / "personal-data.keys"
    MasterKeys.ensure(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first = MasterKeys.load(path)
    MasterKeys.ensure(path)
    assert MasterKeys.load(path) == first, "an existing key file is kept"
