"""Signed checkpoints of the decision log: the chain head signed with an Ed25519 key held
outside the database, and the log verified against one. Reading and writing key files is
the adapters' (`services.promotion.adapters.checkpoints`)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from services.promotion.domain.decision_log.canonical import CanonicalError, canonical, instant
from services.promotion.domain.decision_log.chain import ChainHead, EntryRow
from services.promotion.domain.decision_log.verification import ChainWalk, Verification


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The chain head at a moment, signed: `signature` is Ed25519 (hex) over
    canonical({"created_at", "head_hash", "sequence"}). Exported out of the database's reach,
    it shows a later rewrite of entries 1..sequence, or their removal.

    `public_key` (raw, hex) names the key that signed it. It is not trusted on its own: a
    verifier compares its fingerprint with the one it has pinned (`verify_pinned`)."""

    sequence: int
    head_hash: str
    created_at: datetime
    signature: str
    public_key: str

    def signed_bytes(self) -> bytes:
        return _checkpoint_message(self.sequence, self.head_hash, self.created_at)

    def to_json(self) -> str:
        """The export format: one canonical JSON object with the four fields."""
        return canonical(
            {
                "sequence": self.sequence,
                "head_hash": self.head_hash,
                "created_at": self.created_at,
                "signature": self.signature,
                "public_key": self.public_key,
            }
        ).decode("utf-8")

    @classmethod
    def from_json(cls, text: str | bytes) -> Checkpoint:
        """A checkpoint exported by `to_json`; ValueError says what is wrong with it."""
        data = json.loads(text)
        fields = {"sequence", "head_hash", "created_at", "signature", "public_key"}
        if not isinstance(data, dict) or set(data) != fields:
            raise ValueError(f"a checkpoint is a JSON object with exactly {sorted(fields)}")
        if not isinstance(data["sequence"], int) or not all(
            isinstance(data[name], str) for name in fields - {"sequence"}
        ):
            raise ValueError("a checkpoint's sequence is a number and its other fields strings")
        created_at = datetime.fromisoformat(data["created_at"])
        if created_at.utcoffset() is None:
            raise ValueError("a checkpoint's created_at carries a time zone")
        return cls(
            sequence=data["sequence"],
            head_hash=data["head_hash"],
            created_at=created_at,
            signature=data["signature"],
            public_key=data["public_key"],
        )

    @property
    def fingerprint(self) -> str:
        """The fingerprint (`key_fingerprint`) of the key it names; "" when it names none."""
        try:
            return key_fingerprint(_raw_public_key(self.public_key))
        except ValueError:
            return ""


def _checkpoint_message(sequence: int, head_hash: str, created_at: datetime) -> bytes:
    return canonical({"sequence": sequence, "head_hash": head_hash, "created_at": created_at})


def sign_checkpoint(
    private_key: Ed25519PrivateKey, head: ChainHead, *, created_at: datetime | None = None
) -> Checkpoint:
    """Sign the chain head (a `LogEntry`, a row, or `Verification.head`). Use a key kept for
    checkpoints alone, outside the database. `created_at` defaults to now."""
    if not isinstance(private_key, Ed25519PrivateKey):
        raise TypeError("checkpoints are signed with an Ed25519 private key")
    if head.sequence < 1:
        raise ValueError("an empty log has no head to sign")
    moment = created_at if created_at is not None else datetime.now(UTC)
    message = _checkpoint_message(head.sequence, head.hash, moment)
    return Checkpoint(
        sequence=head.sequence,
        head_hash=head.hash,
        created_at=moment,
        signature=private_key.sign(message).hex(),
        public_key=_raw(private_key.public_key()).hex(),
    )


CheckpointProblem = Literal["wrong_key", "bad_signature", "chain_broken", "rewritten", "truncated"]


@dataclass(frozen=True, slots=True)
class CheckpointVerification:
    """The log against one checkpoint.

    - `bad_signature`: the checkpoint was not signed by this key as it stands (forged,
      edited, or another key);
    - `chain_broken`: `chain` names the first failing entry;
    - `rewritten`: the chain verifies but its entry at the checkpoint's sequence has another
      hash than the one signed: entries up to there were rewritten consistently;
    - `truncated`: the log ends before the checkpoint's sequence: entries were removed;
    - `wrong_key` (`verify_pinned`): the checkpoint names another key than the pinned one.

    `after` counts the entries verified beyond the checkpoint's sequence: the part of the log
    no signature vouches for yet.
    """

    ok: bool
    problem: CheckpointProblem | None
    detail: str
    chain: Verification | None
    after: int = 0

    def __bool__(self) -> bool:
        return self.ok


def verify_checkpoint(
    public_key: Ed25519PublicKey,
    checkpoint: Checkpoint,
    entries: Iterable[EntryRow],
    *,
    check_columns: bool = True,
) -> CheckpointVerification:
    """Check the checkpoint's signature, then verify the whole log (as `verify`) and compare
    the hash of its entry at the checkpoint's sequence with the signed one."""
    if not isinstance(public_key, Ed25519PublicKey):
        raise TypeError("checkpoints are verified with the Ed25519 public key that signed them")
    try:
        public_key.verify(bytes.fromhex(checkpoint.signature), checkpoint.signed_bytes())
    except (InvalidSignature, ValueError, CanonicalError):
        return CheckpointVerification(
            False,
            "bad_signature",
            f"the checkpoint at sequence {checkpoint.sequence} is not signed by this key as it "
            "stands: forged, edited or signed with another key",
            None,
        )
    walk = ChainWalk(check_columns)
    rows = iter(entries)
    at_checkpoint = walk.run(rows, until=checkpoint.sequence)
    if not at_checkpoint.ok:
        return CheckpointVerification(
            False, "chain_broken", str(at_checkpoint.failure), at_checkpoint
        )
    head = at_checkpoint.head
    if head is None or head.sequence < checkpoint.sequence:
        held = head.sequence if head else 0
        return CheckpointVerification(
            False,
            "truncated",
            f"the checkpoint of {_when(checkpoint)} covers {checkpoint.sequence} entries, the "
            f"log holds {held}: entries were removed",
            at_checkpoint,
        )
    if head.hash != checkpoint.head_hash:
        whole = walk.run(rows)
        return CheckpointVerification(
            False,
            "rewritten",
            f"entry {head.sequence} ({head.entry_id}) has hash {head.hash}, the checkpoint "
            f"signed on {_when(checkpoint)} says {checkpoint.head_hash}: entries up to "
            f"{head.sequence} were rewritten",
            whole,
        )
    whole = walk.run(rows)
    if not whole.ok:
        return CheckpointVerification(False, "chain_broken", str(whole.failure), whole)
    return CheckpointVerification(
        True,
        None,
        f"entries 1 to {checkpoint.sequence} match the checkpoint of {_when(checkpoint)}; "
        f"{whole.entries} entries verified",
        whole,
        whole.entries - checkpoint.sequence,
    )


def verify_pinned(
    pinned_fingerprint: str,
    checkpoint: Checkpoint,
    entries: Iterable[EntryRow],
    *,
    check_columns: bool = True,
) -> CheckpointVerification:
    """`verify_checkpoint` with the key the checkpoint names, once its fingerprint is the
    pinned one: whoever can write where checkpoints are kept cannot vouch for a rewritten
    log with a key of their own."""
    named = checkpoint.fingerprint
    if not pinned_fingerprint or named != pinned_fingerprint.strip().lower():
        return CheckpointVerification(
            False,
            "wrong_key",
            f"the checkpoint at sequence {checkpoint.sequence} of {_when(checkpoint)} is signed "
            f"with key {named or '(none named)'}, not with the pinned key "
            f"{pinned_fingerprint or '(none pinned)'}: refused",
            None,
        )
    key = _raw_public_key(checkpoint.public_key)
    return verify_checkpoint(key, checkpoint, entries, check_columns=check_columns)


def _when(checkpoint: Checkpoint) -> str:
    try:
        return instant(checkpoint.created_at)
    except CanonicalError:
        return str(checkpoint.created_at)


def key_fingerprint(key: Ed25519PublicKey | Ed25519PrivateKey) -> str:
    """SHA-256 (hex) of the raw public key: names the key a checkpoint was signed with."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return hashlib.sha256(_raw(public)).hexdigest()


def _raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _raw_public_key(text: str) -> Ed25519PublicKey:
    try:
        return Ed25519PublicKey.from_public_bytes(bytes.fromhex(text))
    except (ValueError, TypeError):
        raise ValueError(f"{text[:80]!r} is not a raw Ed25519 public key in hex") from None
