"""Bearer tokens: the development key pair, JWKS verification, and what is refused."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from libs.platform.auth import TokenVerifier, ensure_dev_keypair, mint_token
from libs.platform.settings import Settings

ISSUER, AUDIENCE = "talentledger-dev", "talentledger"


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    return ensure_dev_keypair(tmp_path / "keys")


def verifier(**settings: object) -> TokenVerifier:
    return TokenVerifier(Settings.model_validate(settings))


def test_the_subject_and_roles_of_a_dev_token_are_the_actor(keys: tuple[Path, Path]) -> None:
    private, public = keys
    token = mint_token(private, "alice", ["hr_admin"], issuer=ISSUER, audience=AUDIENCE)
    actor = verifier(TALENTLEDGER_JWT_PUBLIC_KEY_FILE=public).verify(token)
    assert actor.subject == "alice"
    assert actor.has("hr_admin")
    assert not actor.has("auditor")


def test_the_key_pair_is_made_once_and_kept_private(keys: tuple[Path, Path]) -> None:
    private, _ = keys
    assert ensure_dev_keypair(private.parent) == keys
    assert private.stat().st_mode & 0o077 == 0


@pytest.mark.parametrize(
    ("claims", "error"),
    [
        ({"ttl": timedelta(seconds=-1)}, jwt.ExpiredSignatureError),
        ({"issuer": "someone-else"}, jwt.InvalidIssuerError),
        ({"audience": "another-api"}, jwt.InvalidAudienceError),
    ],
)
def test_expired_or_misaddressed_tokens_are_refused(
    keys: tuple[Path, Path], claims: dict[str, object], error: type[Exception]
) -> None:
    private, public = keys
    options = {"issuer": ISSUER, "audience": AUDIENCE, **claims}
    token = mint_token(private, "alice", ["hr_admin"], **options)  # type: ignore[arg-type]
    with pytest.raises(error):
        verifier(TALENTLEDGER_JWT_PUBLIC_KEY_FILE=public).verify(token)


def test_a_token_signed_by_another_key_is_refused(keys: tuple[Path, Path], tmp_path: Path) -> None:
    other_private, _ = ensure_dev_keypair(tmp_path / "other")
    token = mint_token(other_private, "mallory", ["hr_admin"], issuer=ISSUER, audience=AUDIENCE)
    with pytest.raises(jwt.InvalidSignatureError):
        verifier(TALENTLEDGER_JWT_PUBLIC_KEY_FILE=keys[1]).verify(token)


def test_unknown_roles_cannot_be_minted(keys: tuple[Path, Path]) -> None:
    with pytest.raises(ValueError, match=r"unknown role\(s\) \['superuser'\]"):
        mint_token(keys[0], "alice", ["superuser"], issuer=ISSUER, audience=AUDIENCE)


def test_a_verifier_needs_a_key_source() -> None:
    with pytest.raises(ValueError, match="TALENTLEDGER_JWKS_URL"):
        verifier()


@pytest.fixture
def jwks_url(keys: tuple[Path, Path]) -> Iterator[str]:
    """A local JWKS endpoint publishing the development public key, as an IdP would."""
    public_key = load_pem_public_key(keys[1].read_bytes())
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(public_key))  # type: ignore[arg-type]
    body = json.dumps({"keys": [{**jwk, "kid": "dev", "use": "sig", "alg": "RS256"}]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/.well-known/jwks.json"
    server.shutdown()


def test_production_tokens_are_verified_against_a_jwks_url(
    keys: tuple[Path, Path], jwks_url: str
) -> None:
    token = jwt.encode(
        {"sub": "carol", "roles": ["auditor"], "iss": ISSUER, "aud": AUDIENCE, "exp": 2**31},
        keys[0].read_bytes(),
        algorithm="RS256",
        headers={"kid": "dev"},
    )
    actor = verifier(TALENTLEDGER_JWKS_URL=jwks_url).verify(token)
    assert actor.subject == "carol"
    assert actor.has("auditor")
