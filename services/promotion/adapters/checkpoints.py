"""Where decision-log checkpoints live, outside the database: the signing key's file and the
sink signed checkpoints are appended to.

The sink is a directory: one file per checkpoint, created exclusively (an existing name is
never opened for writing), made read-only and synced before it counts. Pointed at write-once
storage (an S3 bucket with Object Lock mounted with Mountpoint for Amazon S3, which refuses
overwrites; or a WORM share), nobody who controls the database can remove or replace one.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from libs.platform.settings import Settings
from services.promotion.domain.decision_log import (
    Checkpoint,
    generate_private_key,
    instant,
    key_fingerprint,
    private_key_from_pem,
    private_key_to_pem,
)

PIN_SUFFIX = ".fingerprint"


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
