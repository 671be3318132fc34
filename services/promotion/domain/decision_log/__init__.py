"""The tamper-evident promotion decision log (docs/domain.md §6).

Every step of a promotion case (nomination, endorsement, evidence, readiness evaluation,
calibration confirmation, decision, appeal, appeal outcome) is an entry in one append-only log.
An entry carries the exact inputs it relied on (framework version, criteria version, scores as
they were) and commits to the entry before it:

    hash = SHA-256(canonical({every field except hash}))

where the fields include `previous_hash`, the hash of the entry before (`GENESIS_HASH`, 64
zeros, for the first). Changing, removing, inserting or reordering any entry therefore breaks
the chain at that point, and `verify` names the first entry where it breaks. Someone able to
rewrite the whole chain consistently (a database administrator recomputing every hash) is
caught by a `Checkpoint`: the chain head's sequence and hash signed with an Ed25519 key held
outside the database and exported; `verify_checkpoint` shows the entry at the checkpoint's
sequence no longer has the signed hash. Removing entries from the end of the log is likewise
only visible against a checkpoint.

The canonical body. `canonical` is the one serialisation every hash is computed over (RFC 8785,
JSON Canonicalization Scheme; rules on `canonical`). Each entry keeps the exact bytes it was
hashed over in `body`, and storage should keep them too: the body is the record, the other
columns are projections of it for queries. Verifying then costs one SHA-256 per entry plus a
few comparisons: `verify(..., check_columns=False)` runs at over half the speed of a plain
`hashlib.sha256(body).hexdigest()` loop over the same bytes. That pass vouches for the bodies,
the hashes and the order (sequence column), and nothing else: an administrator who edits the
`actor` column of a decision and leaves its body alone is only seen by comparing the columns
with the body, which means re-serialising them, 20 to 40 times slower than hashing (the same
price as storing no body and recomputing it from the columns). So `check_columns=True`, the
default, does both: that is what `audit verify` needs, since an auditor reading a column must
be told it was edited. The chain-only pass is sound for readers that take the content from the
body. Rows read back without a body are re-serialised from their columns in either mode.

Personal text. Entries of payload version 2 hold each personal text field as a salted
commitment, the text and salt kept beside the log (`personal`), so that a person's text can be
erased and the chain still verify: `verify` checks held text against its commitment where the
rows come with it, and names the entries an erasure entry erased (docs/privacy.md).
"""

from services.promotion.domain.decision_log.canonical import CanonicalError, canonical, instant
from services.promotion.domain.decision_log.chain import (
    ENTRY_KINDS,
    GENESIS_HASH,
    HASHED_FIELDS,
    ChainHead,
    EntryKind,
    EntryRefused,
    EntryRow,
    LogEntry,
    TamperedEntry,
    build_chain,
    entry_hash,
    hashed_fields,
    next_entry,
    parse_body,
)
from services.promotion.domain.decision_log.checkpoints import (
    Checkpoint,
    CheckpointVerification,
    key_fingerprint,
    sign_checkpoint,
    verify_checkpoint,
    verify_pinned,
)
from services.promotion.domain.decision_log.personal import (
    ERASED,
    PersonalText,
    TextMismatch,
    commit,
    commitment,
    committed_fields,
    disclose,
)
from services.promotion.domain.decision_log.verification import (
    Erased,
    Failure,
    Head,
    Verification,
    verify,
)

__all__ = [
    "ENTRY_KINDS",
    "ERASED",
    "GENESIS_HASH",
    "HASHED_FIELDS",
    "CanonicalError",
    "ChainHead",
    "Checkpoint",
    "CheckpointVerification",
    "EntryKind",
    "EntryRefused",
    "EntryRow",
    "Erased",
    "Failure",
    "Head",
    "LogEntry",
    "PersonalText",
    "TamperedEntry",
    "TextMismatch",
    "Verification",
    "build_chain",
    "canonical",
    "commit",
    "commitment",
    "committed_fields",
    "disclose",
    "entry_hash",
    "hashed_fields",
    "instant",
    "key_fingerprint",
    "next_entry",
    "parse_body",
    "sign_checkpoint",
    "verify",
    "verify_checkpoint",
    "verify_pinned",
]
