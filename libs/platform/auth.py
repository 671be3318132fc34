"""Bearer-token authentication: JWTs signed by the development key, or verified by JWKS.

The token's subject is the actor recorded on every event a request causes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import Depends, HTTPException, Request, status
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from libs.platform.settings import Settings

log = logging.getLogger(__name__)

ROLES = (
    "hr_admin",
    "manager",
    "employee",
    "rater",
    "auditor",
    "integration",
    # Decides promotions (docs/domain.md §6: "a person entitled to decide"); the promotion service
    # takes the role its settings name, this one by default.
    "promotion_committee",
    # Answers access and erasure requests about a person (docs/privacy.md, Requests).
    "privacy_officer",
    # Places and lifts legal holds, which stop a person's data being erased (docs/privacy.md).
    "legal",
)
ALGORITHM = "RS256"
# Clocks of the identity provider and of each service drift apart; a minute absorbs that.
LEEWAY = timedelta(seconds=60)
# Where the HTTP edge keeps the actor it verified (`request.state`), for `CurrentActor`.
ACTOR_STATE = "actor"
PRIVATE_KEY = "dev-signing-key.pem"
PUBLIC_KEY = "dev-signing-key.pub.pem"


@dataclass(frozen=True)
class Actor:
    """Who issued a command: the token's subject and roles."""

    subject: str
    roles: frozenset[str]

    def has(self, role: str) -> bool:
        return role in self.roles


def ensure_dev_keypair(keys_dir: Path) -> tuple[Path, Path]:
    """Create the development signing key pair once; return (private, public) paths."""
    private, public = keys_dir / PRIVATE_KEY, keys_dir / PUBLIC_KEY
    if not private.exists():
        keys_dir.mkdir(parents=True, exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        private.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        private.chmod(0o600)
        public.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    return private, public


class TokenMinter:
    """Mints development tokens with one signing key, parsed once: parsing costs far more
    than signing, and simulations mint a token per person."""

    def __init__(
        self,
        private_key_file: Path,
        *,
        issuer: str,
        audience: str,
        ttl: timedelta = timedelta(hours=12),
    ) -> None:
        self.key = serialization.load_pem_private_key(private_key_file.read_bytes(), None)
        self.issuer, self.audience, self.ttl = issuer, audience, ttl

    def mint(self, subject: str, roles: list[str]) -> str:
        unknown = sorted(set(roles) - set(ROLES))
        if unknown:
            raise ValueError(f"unknown role(s) {unknown}; choose from {list(ROLES)}")
        now = datetime.now(UTC)
        claims = {
            "sub": subject,
            "roles": roles,
            "iss": self.issuer,
            "aud": self.audience,
            "iat": now,
            "exp": now + self.ttl,
        }
        return jwt.encode(claims, self.key, algorithm=ALGORITHM)  # type: ignore[arg-type]


def mint_token(
    private_key_file: Path,
    subject: str,
    roles: list[str],
    *,
    issuer: str,
    audience: str,
    ttl: timedelta = timedelta(hours=12),
) -> str:
    minter = TokenMinter(private_key_file, issuer=issuer, audience=audience, ttl=ttl)
    return minter.mint(subject, roles)


MIN_JWKS_REFRESH_SECONDS = 5.0


async def _first(*waits: Coroutine[Any, Any, Any], seconds: float) -> None:
    """Return when the first of `waits` finishes or after `seconds`; cancel the rest."""
    tasks = [asyncio.ensure_future(wait) for wait in waits]
    try:
        await asyncio.wait(tasks, timeout=max(seconds, 0), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


class SigningKeys:
    """The identity provider's JWKS, refreshed in the background by `run`.

    Verification never waits on the provider: it uses the last key set fetched. When the
    provider fails, that set is kept (and the failure logged) until a refresh succeeds, so an
    outage of the provider is not an outage of every service."""

    def __init__(self, url: str, refresh_seconds: float) -> None:
        self.url, self.refresh_seconds = url, refresh_seconds
        self._keys: dict[str | None, Any] = {}
        self.fetched_at: float | None = None  # time.monotonic() of the last good fetch
        self.failures = 0  # consecutive failed refreshes
        self._wanted = asyncio.Event()

    async def refresh(self, client: httpx.AsyncClient) -> None:
        response = await client.get(self.url, timeout=10)
        response.raise_for_status()
        keys = jwt.PyJWKSet.from_dict(response.json()).keys
        self._keys = {key.key_id: key.key for key in keys if key.public_key_use in (None, "sig")}
        self.fetched_at, self.failures = time.monotonic(), 0

    async def run(self, stop: asyncio.Event) -> None:
        """Fetch now, then every `refresh_seconds` (sooner after a failure, or when a token
        names a key not seen yet, but at most once per `MIN_JWKS_REFRESH_SECONDS`), until
        `stop` is set."""
        async with httpx.AsyncClient() as client:
            while not stop.is_set():
                self._wanted.clear()
                try:
                    await self.refresh(client)
                    wait = self.refresh_seconds
                except (httpx.HTTPError, ValueError, jwt.PyJWTError) as error:
                    self.failures += 1
                    log.warning(
                        "JWKS %s failed (%s); still verifying with the %d key(s) fetched before",
                        self.url,
                        error,
                        len(self._keys),
                    )
                    wait = min(self.refresh_seconds, MIN_JWKS_REFRESH_SECONDS)
                pause = min(wait, MIN_JWKS_REFRESH_SECONDS)
                await _first(stop.wait(), seconds=pause)
                await _first(stop.wait(), self._wanted.wait(), seconds=wait - pause)

    def key_for(self, token: str) -> Any:
        if self.fetched_at is None:
            raise jwt.InvalidTokenError("the identity provider's signing keys are not loaded yet")
        kid = jwt.get_unverified_header(token).get("kid")
        key = self._keys.get(kid)
        if key is None:
            self._wanted.set()  # perhaps the provider rotated its keys: look again soon
            raise jwt.InvalidTokenError(f"no signing key {kid!r} in the identity provider's JWKS")
        return key


class TokenVerifier:
    """Verifies bearer tokens with the configured JWKS URL, else the development public key.

    Tokens must carry `iat` and live at most `TALENTLEDGER_JWT_MAX_LIFETIME_SECONDS`; times
    are checked with `LEEWAY`. With `TALENTLEDGER_ENVIRONMENT=production` only a JWKS is
    accepted: the development key pair lives beside the data and anyone on the host can sign
    with it."""

    def __init__(self, settings: Settings) -> None:
        self.issuer = settings.jwt_issuer
        self.audience = settings.jwt_audience
        self.max_lifetime = settings.jwt_max_lifetime_seconds
        if settings.environment == "production" and (
            settings.jwt_public_key_file or not settings.jwks_url
        ):
            raise ValueError(
                "TALENTLEDGER_ENVIRONMENT=production refuses the development key: unset "
                "TALENTLEDGER_JWT_PUBLIC_KEY_FILE and set TALENTLEDGER_JWKS_URL to your "
                "identity provider's JWKS"
            )
        self.jwks = (
            SigningKeys(settings.jwks_url, settings.jwks_refresh_seconds)
            if settings.jwks_url
            else None
        )
        # Parsed once: PyJWT would parse the PEM again for every token.
        self._key = (
            serialization.load_pem_public_key(settings.jwt_public_key_file.read_bytes())
            if settings.jwt_public_key_file
            else None
        )
        self._verified: dict[str, _Verified] = {}
        if self.jwks is None and self._key is None:
            raise ValueError(
                "no way to verify tokens: set TALENTLEDGER_JWKS_URL or "
                "TALENTLEDGER_JWT_PUBLIC_KEY_FILE"
            )

    async def run(self, stop: asyncio.Event) -> None:
        """Keep the JWKS fresh until `stop` (returns at once with the development key)."""
        if self.jwks is not None:
            await self.jwks.run(stop)

    def verify(self, token: str) -> Actor:
        key = self.jwks.key_for(token) if self.jwks else self._key
        # A person's client sends the same token with every request until it expires: its
        # signature is checked once per signing key, not once per request. A token verified
        # with a key the provider has since replaced is verified again (and refused).
        known = self._verified.get(token)
        if known is not None and known.key is key and time.time() < known.expires:
            return known.actor
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=self.audience,
            issuer=self.issuer,
            leeway=LEEWAY,
            options={"require": ["sub", "exp", "iat", "iss", "aud"]},
        )
        lifetime = claims["exp"] - claims["iat"]
        if lifetime > self.max_lifetime:
            raise jwt.InvalidTokenError(
                f"the token lives {lifetime:,}s, longer than the {self.max_lifetime:,}s allowed: "
                "ask the identity provider for a shorter-lived token"
            )
        actor = Actor(subject=claims["sub"], roles=frozenset(claims.get("roles", [])))
        if len(self._verified) >= VERIFIED_TOKENS:
            # The oldest; pop with a default, since a synchronous dependency may verify in
            # FastAPI's thread pool, where another thread can be evicting the same entry.
            self._verified.pop(next(iter(self._verified), None), None)  # type: ignore[arg-type]
        expires = claims["exp"] + LEEWAY.total_seconds()
        self._verified[token] = _Verified(actor, key, expires)
        return actor


# Verified tokens a verifier remembers, the oldest forgotten first: about one per person
# active at once, each under a kilobyte.
VERIFIED_TOKENS = 10_000


@dataclass(frozen=True)
class _Verified:
    actor: Actor
    key: Any
    """The signing key that verified it: only that key's verification is remembered."""
    expires: float
    """Unix time after which the token no longer verifies (its `exp` plus `LEEWAY`)."""


class Unauthenticated(Exception):
    """No usable bearer token: answered 401 with a body that says what to send."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    def response(self) -> JSONResponse:
        return JSONResponse(
            status_code=status.HTTP_401_UNAUTHORIZED,
            content={"detail": self.detail},
            headers={"WWW-Authenticate": "Bearer"},
        )


def authenticate(verifier: TokenVerifier, authorization: str | None) -> Actor:
    """The actor of an `Authorization` header value; `Unauthenticated` when there is none."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("missing bearer token: send 'Authorization: Bearer <token>'")
    try:
        return verifier.verify(token.strip())
    except jwt.PyJWTError as error:
        raise Unauthenticated(f"invalid token: {error}") from error


_bearer = HTTPBearer(auto_error=False)


def current_actor(
    request: Request,
    # Declared so that OpenAPI states the scheme; the HTTP edge has read the header already.
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    """FastAPI dependency: the actor the HTTP edge authenticated (it answers 401 itself);
    an app without the edge verifies here, the same way."""
    actor = request.scope.get("state", {}).get(ACTOR_STATE)
    if isinstance(actor, Actor):
        return actor
    try:
        return authenticate(request.app.state.token_verifier, request.headers.get("authorization"))
    except Unauthenticated as error:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail=error.detail,
            headers={"WWW-Authenticate": "Bearer"},
        ) from error


CurrentActor = Annotated[Actor, Depends(current_actor)]


def require_role(actor: Actor, role: str) -> None:
    require_any_role(actor, role)


def require_any_role(actor: Actor, *roles: str) -> None:
    """403 unless the caller holds one of `roles`."""
    if not any(actor.has(role) for role in roles):
        needs = f"the {roles[0]!r} role" if len(roles) == 1 else f"one of the roles {list(roles)}"
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=f"this needs {needs}; the token of {actor.subject!r} has "
            f"{sorted(actor.roles) or 'none'}",
        )


def _hr_admin(actor: CurrentActor) -> Actor:
    require_role(actor, "hr_admin")
    return actor


HrAdmin = Annotated[Actor, Depends(_hr_admin)]
"""The caller, who must hold the `hr_admin` role (403 otherwise)."""
