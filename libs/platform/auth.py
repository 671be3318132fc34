"""Bearer-token authentication: JWTs signed by the development key, or verified by JWKS.

The token's subject is the actor recorded on every event a request causes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from libs.platform.settings import Settings

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
)
ALGORITHM = "RS256"
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


class TokenVerifier:
    """Verifies bearer tokens with the configured JWKS URL, else the development public key."""

    def __init__(self, settings: Settings) -> None:
        self.issuer = settings.jwt_issuer
        self.audience = settings.jwt_audience
        self._jwks = jwt.PyJWKClient(settings.jwks_url) if settings.jwks_url else None
        self._key = (
            settings.jwt_public_key_file.read_bytes() if settings.jwt_public_key_file else None
        )
        if self._jwks is None and self._key is None:
            raise ValueError(
                "no way to verify tokens: set TALENTLEDGER_JWKS_URL or "
                "TALENTLEDGER_JWT_PUBLIC_KEY_FILE"
            )

    def verify(self, token: str) -> Actor:
        key = self._jwks.get_signing_key_from_jwt(token).key if self._jwks else self._key
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=self.audience,
            issuer=self.issuer,
            options={"require": ["sub", "exp", "iss", "aud"]},
        )
        return Actor(subject=claims["sub"], roles=frozenset(claims.get("roles", [])))


_bearer = HTTPBearer(auto_error=False)


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


def current_actor(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    """FastAPI dependency: the authenticated actor, or 401 with a JSON body."""
    if credentials is None:
        raise _unauthorized("missing bearer token: send 'Authorization: Bearer <token>'")
    verifier: TokenVerifier = request.app.state.token_verifier
    try:
        return verifier.verify(credentials.credentials)
    except jwt.PyJWTError as error:
        raise _unauthorized(f"invalid token: {error}") from error


CurrentActor = Annotated[Actor, Depends(current_actor)]


def require_role(actor: Actor, role: str) -> None:
    if not actor.has(role):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=f"this needs the {role!r} role; the token of {actor.subject!r} has "
            f"{sorted(actor.roles) or 'none'}",
        )


def _hr_admin(actor: CurrentActor) -> Actor:
    require_role(actor, "hr_admin")
    return actor


HrAdmin = Annotated[Actor, Depends(_hr_admin)]
"""The caller, who must hold the `hr_admin` role (403 otherwise)."""
