"""Where decision-log checkpoints live, outside the database: the signing key's file and the
sink signed checkpoints are appended to.

The sink is a directory: one file per checkpoint, created exclusively (an existing name is
never opened for writing), made read-only and synced before it counts. Pointed at write-once
storage (an S3 bucket with Object Lock mounted with Mountpoint for Amazon S3, which refuses
overwrites; or a WORM share), nobody who controls the database can remove or replace one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path

import psycopg
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from libs.platform.settings import Settings
from services.promotion.application.checkpoints import CheckpointRefused, Checkpoints
from services.promotion.domain.decision_log import Checkpoint, instant, key_fingerprint

PIN_SUFFIX = ".fingerprint"
log = logging.getLogger(__name__)


class CheckpointSetupError(RuntimeError):
    """The checkpoint key, pin or sink is missing or unusable: the message says what to fix."""


def ensure_checkpoint_key(path: Path) -> str:
    """Create the checkpoint signing key at `path` (mode 0600) once, with its fingerprint
    recorded beside it as the pin; return the pinned fingerprint."""
    pin = _pin_file(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = generate_private_key()
        # Created with its final mode: the key is never readable by others, even briefly.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(private_key_to_pem(key))
        pin.write_text(key_fingerprint(key) + "\n", encoding="ascii")
    elif not pin.exists():
        pin.write_text(key_fingerprint(load_signing_key(path)) + "\n", encoding="ascii")
    return pin.read_text(encoding="ascii").strip()


class KeyFile:
    """The signing key in its file, read once (`CheckpointSetupError` when it is missing)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._key: Ed25519PrivateKey | None = None

    def load(self) -> Ed25519PrivateKey:
        if self._key is None:
            self._key = load_signing_key(self.path)
        return self._key


async def sign_on_schedule(checkpoints: Checkpoints, stop: asyncio.Event, interval: float) -> None:
    """Sign now and then every `interval` seconds until `stop`; `interval` 0 only checks
    the key. A missing key stops the service (raised); a refused or failed round is
    logged and tried again at the next one."""
    checkpoints.key.load()
    if interval <= 0:
        await stop.wait()  # returning early would stop the service
        return
    while not stop.is_set():
        try:
            await checkpoints.sign()
        except CheckpointRefused as error:
            log.error("decision-log checkpoint refused: %s", error)
        except (psycopg.Error, OSError, CheckpointSetupError) as error:
            log.warning("decision-log checkpoint failed, next try in %ss: %s", interval, error)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)


def load_signing_key(path: Path) -> Ed25519PrivateKey:
    try:
        return private_key_from_pem(path.read_bytes())
    except FileNotFoundError:
        raise CheckpointSetupError(
            f"no checkpoint signing key at {path}: set TALENTLEDGER_CHECKPOINT_KEY_FILE to the "
            "Ed25519 key (PEM) the promotion service signs with (`talentledger up` creates one)"
        ) from None
    except (ValueError, TypeError) as error:
        raise CheckpointSetupError(f"{path} is not an unencrypted Ed25519 key: {error}") from None


# Key handling: PEM (PKCS#8 for private keys, SubjectPublicKeyInfo for public keys).


def generate_private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def private_key_to_pem(key: Ed25519PrivateKey, password: bytes | None = None) -> bytes:
    """PKCS#8 PEM, encrypted with `password` when given."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def private_key_from_pem(data: bytes, password: bytes | None = None) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(data, password=password)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"expected an Ed25519 private key, got {type(key).__name__}")
    return key


def public_key_to_pem(key: Ed25519PublicKey | Ed25519PrivateKey) -> bytes:
    """SubjectPublicKeyInfo PEM of the key (of its public half for a private key)."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def public_key_from_pem(data: bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(data)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"expected an Ed25519 public key, got {type(key).__name__}")
    return key


def pinned_fingerprint(settings: Settings) -> str:
    """The fingerprint checkpoints must be signed with: the setting, else (on the embedded
    stack, whose key is not configured) the pin it recorded when it created its key."""
    if settings.checkpoint_key_fingerprint:
        return settings.checkpoint_key_fingerprint.lower()
    if settings.checkpoint_key_file is None:
        with contextlib.suppress(OSError):
            return _pin_file(settings.checkpoint_key).read_text(encoding="ascii").strip()
    raise CheckpointSetupError(
        "no checkpoint key is pinned: set TALENTLEDGER_CHECKPOINT_KEY_FINGERPRINT to the "
        "fingerprint of the key the promotion service signs with (`talentledger audit "
        "fingerprint` prints it where the key is)"
    )


def _pin_file(key: Path) -> Path:
    return key.with_name(key.stem + PIN_SUFFIX)


class CheckpointDirectory:
    """Write-once checkpoint files in a directory."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, checkpoint: Checkpoint) -> Path:
        """Write the checkpoint to a new file; an existing file is never touched."""
        self.path.mkdir(parents=True, exist_ok=True)
        stamp = instant(checkpoint.created_at).replace("-", "").replace(":", "")
        target = self.path / f"checkpoint-{checkpoint.sequence:012d}-{stamp}.json"
        try:
            descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
        except FileExistsError:
            raise CheckpointSetupError(
                f"{target} exists already: checkpoints are never overwritten"
            ) from None
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(checkpoint.to_json() + "\n")
            file.flush()
            os.fsync(file.fileno())
        # The new name survives a crash on a local disk; object-storage mounts have no
        # directory to sync (the file's own sync completed its upload).
        with contextlib.suppress(OSError):
            directory = os.open(self.path, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
        return target

    def latest(self) -> Checkpoint | None:
        """The checkpoint of the longest log (the latest of those): read from every file's
        content, not its name, so a renamed file cannot stand in for a later one. A file
        that is not a checkpoint is an error, not skipped: someone wrote it there."""
        if not self.path.is_dir():
            return None
        found: Checkpoint | None = None
        for file in self.path.iterdir():
            if not file.is_file() or file.name.startswith("."):
                continue
            try:
                checkpoint = Checkpoint.from_json(file.read_bytes())
            except (ValueError, UnicodeDecodeError) as error:
                raise CheckpointSetupError(f"{file} is not a checkpoint: {error}") from None
            if found is None or (checkpoint.sequence, checkpoint.created_at) > (
                found.sequence,
                found.created_at,
            ):
                found = checkpoint
        return found
