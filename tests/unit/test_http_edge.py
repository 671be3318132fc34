"""The HTTP edge: one authentication per request, its input rules, its 422 answers, and
what the OpenAPI documents state."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from fastapi.exceptions import RequestValidationError

from libs.platform.auth import Actor, CurrentActor, TokenVerifier, ensure_dev_keypair, mint_token
from libs.platform.edge import (
    MAX_JSON_DEPTH,
    TEXT_PATTERN,
    InvalidText,
    check_body,
    state_text_rules,
    validation_failed,
)
from libs.platform.runtime import create_api
from libs.platform.settings import Settings

JSON = "application/json"


@pytest.mark.parametrize(
    ("body", "kind", "loc"),
    [
        ('{"name": "a\\u0000b"}', "nul_character", ["body", "name"]),
        ('{"a\\u0000": 1}', "nul_character", ["body"]),
        ('{"notes": ["ok", "\\ud800"]}', "lone_surrogate", ["body", "notes", 1]),
        ('{"score": NaN}', "finite_number", ["body", "score"]),
        ('{"score": -Infinity}', "finite_number", ["body", "score"]),
        ('{"score": 1e999}', "finite_number", ["body", "score"]),
        ("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1), "json_too_deep", None),
        ("[" * 100_000 + "]" * 100_000, "json_too_deep", ["body"]),
        ("1" * 5000, "number_too_long", ["body"]),
    ],
)
def test_json_bodies_with_unstorable_values_are_refused(
    body: str, kind: str, loc: list[object] | None
) -> None:
    with pytest.raises(InvalidText) as refused:
        check_body(body.encode(), JSON)
    assert refused.value.kind == kind
    if loc is not None:
        assert list(refused.value.loc) == loc


def test_text_bodies_must_be_utf8_without_nul() -> None:
    with pytest.raises(InvalidText, match="not valid UTF-8"):
        check_body(b"a\xed\xa0\x80b", "text/plain")  # a surrogate, encoded
    with pytest.raises(InvalidText, match="NUL"):
        check_body(b"id: a\x00", "text/plain")
    assert check_body("name: Zoë\n".encode(), "text/plain") is None


def test_ordinary_json_passes_and_malformed_json_is_left_to_fastapi() -> None:
    ordinary = {"name": "Zoë", "scores": [1.5, 2], "nested": {"ok": True}}
    for body in (json.dumps(ordinary).encode(), b'{"name": ', b""):
        assert check_body(body, JSON) is None  # no InvalidText


async def test_the_422_answer_never_echoes_the_input_and_always_serialises() -> None:
    error = RequestValidationError(
        [
            {
                "type": "float_type",
                "loc": ("body", "score"),
                "msg": "Input should be a valid number",
                "input": float("nan"),
            },
            {
                "type": "extra_forbidden",
                "loc": ("body", "x\ud800y"),
                "msg": "Extra inputs are not permitted",
                "input": "secret\ud800",
            },
        ]
    )
    response = await validation_failed(None, error)  # type: ignore[arg-type]
    answer = json.loads(response.body)
    assert response.status_code == 422
    assert answer == {
        "detail": [
            {
                "type": "float_type",
                "loc": ["body", "score"],
                "msg": "Input should be a valid number",
            },
            {
                "type": "extra_forbidden",
                "loc": ["body", "x?y"],
                "msg": "Extra inputs are not permitted",
            },
        ]
    }
    assert b"secret" not in response.body


def test_the_documents_state_the_text_rule_and_forbid_unknown_fields() -> None:
    document = {
        "components": {
            "schemas": {
                "Person": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string", "maxLength": 200},
                        "id": {"type": "string", "pattern": "^[a-z0-9]+$"},
                        "line": {"type": "string", "pattern": "^[^\\r\\n]*$"},
                        "born": {"type": "string", "format": "date"},
                        "kind": {"type": "string", "enum": ["a", "b"]},
                        "tags": {"type": "object", "additionalProperties": {"type": "string"}},
                    },
                }
            }
        }
    }
    person = state_text_rules(document)["components"]["schemas"]["Person"]
    fields = person["properties"]
    assert person["additionalProperties"] is False
    assert fields["name"]["pattern"] == TEXT_PATTERN
    assert fields["id"] == {"type": "string", "pattern": "^[a-z0-9]+$"}  # excludes NUL already
    assert fields["line"]["allOf"] == [{"pattern": TEXT_PATTERN}]
    assert "pattern" not in fields["born"]
    assert "pattern" not in fields["kind"]
    assert fields["tags"]["additionalProperties"]["pattern"] == TEXT_PATTERN
    assert re.fullmatch(TEXT_PATTERN, "Zoë") is not None
    assert re.fullmatch(TEXT_PATTERN, "a\x00") is None


class CountingVerifier(TokenVerifier):
    """The real verifier, counting how often a token is verified."""

    calls = 0

    def verify(self, token: str) -> Actor:
        self.calls += 1
        return super().verify(token)


async def test_the_edge_authenticates_once_and_the_route_reuses_its_actor(tmp_path: Path) -> None:
    private, public = ensure_dev_keypair(tmp_path)
    api = create_api("probe", "one authenticated route")

    @api.post("/whoami")
    async def whoami(actor: CurrentActor, body: dict[str, int]) -> dict[str, str]:
        return {"subject": actor.subject}

    verifier = CountingVerifier(
        Settings.model_validate({"TALENTLEDGER_JWT_PUBLIC_KEY_FILE": public})
    )
    api.state.token_verifier = verifier
    token = mint_token(
        private, "alice", ["employee"], issuer="talentledger-dev", audience="talentledger"
    )
    transport = httpx.ASGITransport(app=api)
    async with httpx.AsyncClient(transport=transport, base_url="http://probe") as client:
        answered = await client.post(
            "/whoami", json={"a": 1}, headers={"Authorization": f"Bearer {token}"}
        )
        assert (answered.status_code, answered.json()) == (200, {"subject": "alice"})
        assert verifier.calls == 1
        refused = await client.post("/whoami", json={"a": 1})
        assert refused.status_code == 401
        assert refused.headers["WWW-Authenticate"] == "Bearer"
        assert "missing bearer token" in refused.json()["detail"]
        for public_path in ("/health", "/openapi.json", "/docs"):
            assert (await client.get(public_path)).status_code == 200
    assert verifier.calls == 1
