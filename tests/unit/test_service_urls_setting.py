"""TALENTLEDGER_SERVICE_URLS: where the cycles service asks the other services for an access
request's answers (docs/privacy.md, Requests), as `name=url,...`."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from libs.platform.settings import Settings


def urls(value: str) -> dict[str, str]:
    return Settings.model_validate({"TALENTLEDGER_SERVICE_URLS": value}).service_urls


def test_each_service_and_its_url_trailing_slash_dropped() -> None:
    assert urls(" framework=http://127.0.0.1:8001/ ,assessment = https://a.example:8443,") == {
        "framework": "http://127.0.0.1:8001",
        "assessment": "https://a.example:8443",
    }


def test_unset_or_blank_is_no_service() -> None:
    assert Settings.model_validate({}).service_urls == {}
    assert urls("") == urls(" , ") == {}


def test_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TALENTLEDGER_SERVICE_URLS", "promotion=http://promotion:8000")
    assert Settings().service_urls == {"promotion": "http://promotion:8000"}


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("framework", "write each service as name=url"),
        ("=http://a:1", "write each service as name=url"),
        ("framework=", "write each service as name=url"),
        ("framework=127.0.0.1:8001", "must be http:// or https:// with a host"),
        ("framework=ftp://a:1", "must be http:// or https:// with a host"),
        ("framework=http://", "must be http:// or https:// with a host"),
        ("framework=http://a:1,framework=http://b:1", "'framework' is given twice"),
    ],
)
def test_a_malformed_value_says_what_to_fix(value: str, says: str) -> None:
    with pytest.raises(ValidationError, match="TALENTLEDGER_SERVICE_URLS") as error:
        urls(value)
    assert says in str(error.value)
