"""Bearer tokens: the development key pair, JWKS verification (refreshed in the background,
kept through an identity provider outage), and what is refused."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta, tzinfo
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
        ({"ttl": timedelta(seconds=-61)}, jwt.ExpiredSignatureError),
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


def test_clock_drift_of_up_to_a_minute_is_tolerated(keys: tuple[Path, Path]) -> None:
    private, public = keys
    late = mint_token(
        private, "alice", [], issuer=ISSUER, audience=AUDIENCE, ttl=timedelta(seconds=-30)
    )
    assert verifier(TALENTLEDGER_JWT_PUBLIC_KEY_FILE=public).verify(late).subject == "alice"
    too_late = mint_token(
        private, "alice", [], issuer=ISSUER, audience=AUDIENCE, ttl=timedelta(seconds=-90)
    )
    with pytest.raises(jwt.ExpiredSignatureError):
        verifier(TALENTLEDGER_JWT_PUBLIC_KEY_FILE=public).verify(too_late)


def test_a_token_is_verified_once_and_remembered_until_it_expires(
    keys: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    private, public = keys
    check = verifier(TALENTLEDGER_JWT_PUBLIC_KEY_FILE=public)
    # Within the leeway for another 10 s: expired by then.
    token = mint_token(
        private, "alice", ["rater"], issuer=ISSUER, audience=AUDIENCE, ttl=timedelta(seconds=-50)
    )
    assert check.verify(token).subject == "alice"

    def decode(*_: object, **__: object) -> None:
        raise AssertionError("verified again")

    with monkeypatch.context() as patched:
        patched.setattr(jwt, "decode", decode)
        assert check.verify(token) == check.verify(token)
        assert check.verify(token).has("rater")
    # 20 s later the remembered verification has run out, and the token with it.
    later = time.time() + 20

    class Later(datetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> Later:
            return cls.fromtimestamp(later, tz)

    monkeypatch.setattr(time, "time", lambda: later)
    monkeypatch.setattr(jwt.api_jwt, "datetime", Later)
    with pytest.raises(jwt.ExpiredSignatureError):
        check.verify(token)


def test_tokens_living_longer_than_the_maximum_are_refused(keys: tuple[Path, Path]) -> None:
    private, public = keys
    check = verifier(
        TALENTLEDGER_JWT_PUBLIC_KEY_FILE=public, TALENTLEDGER_JWT_MAX_LIFETIME_SECONDS=3600
    )
    hour = mint_token(private, "al", [], issuer=ISSUER, audience=AUDIENCE, ttl=timedelta(hours=1))
    assert check.verify(hour).subject == "al"
    day = mint_token(private, "al", [], issuer=ISSUER, audience=AUDIENCE, ttl=timedelta(days=1))
    with pytest.raises(jwt.InvalidTokenError, match="longer than the 3,600s allowed"):
        check.verify(day)


def test_tokens_without_an_issue_time_are_refused(keys: tuple[Path, Path]) -> None:
    private, public = keys
    claims = {"sub": "al", "iss": ISSUER, "aud": AUDIENCE, "exp": datetime.now(UTC) + timedelta(1)}
    token = jwt.encode(claims, private.read_bytes(), algorithm="RS256")
    with pytest.raises(jwt.MissingRequiredClaimError, match="iat"):
        verifier(TALENTLEDGER_JWT_PUBLIC_KEY_FILE=public).verify(token)


def test_production_refuses_the_development_key(keys: tuple[Path, Path]) -> None:
    with pytest.raises(ValueError, match="production refuses the development key"):
        verifier(TALENTLEDGER_ENVIRONMENT="production", TALENTLEDGER_JWT_PUBLIC_KEY_FILE=keys[1])
    with pytest.raises(ValueError, match="production refuses the development key"):
        verifier(TALENTLEDGER_ENVIRONMENT="production")
    production = verifier(
        TALENTLEDGER_ENVIRONMENT="production", TALENTLEDGER_JWKS_URL="https://idp.example/jwks"
    )
    assert production.jwks is not None


def _jwk(public_pem: Path, kid: str) -> dict[str, object]:
    public_key = load_pem_public_key(public_pem.read_bytes())
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(public_key))  # type: ignore[arg-type]
    return {**jwk, "kid": kid, "use": "sig", "alg": "RS256"}


class IdentityProvider:
    """A local JWKS endpoint on 127.0.0.1, as an identity provider serves one; it can change
    its key set and be stopped (an outage)."""

    def __init__(self, *jwks: dict[str, object]) -> None:
        self.keys = list(jwks)
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = json.dumps({"keys": provider.keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/.well-known/jwks.json"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.running = True

    def stop(self) -> None:
        if self.running:
            self.server.shutdown()
            self.server.server_close()  # connections are now refused
            self.thread.join()
            self.running = False


@pytest.fixture
def provider(keys: tuple[Path, Path]) -> Iterator[IdentityProvider]:
    idp = IdentityProvider(_jwk(keys[1], "dev"))
    yield idp
    idp.stop()


def _signed(private: Path, kid: str, **claims: object) -> str:
    now = datetime.now(UTC)
    body = {"sub": "carol", "roles": ["auditor"], "iss": ISSUER, "aud": AUDIENCE, "iat": now}
    body |= {"exp": now + timedelta(hours=1), **claims}
    return jwt.encode(body, private.read_bytes(), algorithm="RS256", headers={"kid": kid})


async def _until(condition: Callable[[], bool], what: str, seconds: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


@asynccontextmanager
async def refreshing(check: TokenVerifier) -> AsyncIterator[TokenVerifier]:
    stop = asyncio.Event()
    task = asyncio.create_task(check.run(stop))
    try:
        assert check.jwks is not None
        await _until(lambda: check.jwks is not None and check.jwks.fetched_at is not None, "JWKS")
        yield check
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_production_tokens_are_verified_against_a_jwks_url(
    keys: tuple[Path, Path], provider: IdentityProvider
) -> None:
    async with refreshing(verifier(TALENTLEDGER_JWKS_URL=provider.url)) as check:
        actor = check.verify(_signed(keys[0], "dev"))
    assert actor.subject == "carol"
    assert actor.has("auditor")


async def test_the_jwks_is_refreshed_in_the_background(
    keys: tuple[Path, Path], provider: IdentityProvider, tmp_path: Path
) -> None:
    rotated_private, rotated_public = ensure_dev_keypair(tmp_path / "rotated")
    settings = {"TALENTLEDGER_JWKS_URL": provider.url, "TALENTLEDGER_JWKS_REFRESH_SECONDS": 0.05}
    async with refreshing(verifier(**settings)) as check:
        token = _signed(rotated_private, "2027")
        with pytest.raises(jwt.InvalidTokenError, match="no signing key '2027'"):
            check.verify(token)
        provider.keys = [_jwk(rotated_public, "2027")]  # the provider rotates its key
        await _until(lambda: check.jwks is not None and "2027" in check.jwks._keys, "rotation")
        assert check.verify(token).subject == "carol"


async def test_the_last_jwks_is_served_while_the_provider_is_down(
    keys: tuple[Path, Path], provider: IdentityProvider
) -> None:
    settings = {"TALENTLEDGER_JWKS_URL": provider.url, "TALENTLEDGER_JWKS_REFRESH_SECONDS": 0.05}
    async with refreshing(verifier(**settings)) as check:
        provider.stop()
        assert check.jwks is not None
        await _until(lambda: check.jwks is not None and check.jwks.failures >= 3, "failures")
        assert check.verify(_signed(keys[0], "dev")).subject == "carol"
