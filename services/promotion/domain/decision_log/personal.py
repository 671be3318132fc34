"""Personal text kept beside the decision log, so that it can be erased while the log still
verifies (docs/privacy.md, The decision log).

An entry of payload version 2 holds each personal text field (a note, a rationale, the grounds
of an appeal) as a salted commitment, `{"commitment": SHA-256(salt || UTF-8 text)}`, and the
salt (32 random bytes) and the text are kept outside the hash-chained row. The chain verifies
from the rows alone; where the text is still held it must open its commitment; erasing it
removes the text and the salt, and without the salt the commitment tells nothing about the
text, not even a guess checked against it.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ERASED = "[erased]"
SALT_BYTES = 32
_HEX64 = re.compile(r"[0-9a-f]{64}")
# What every commitment looks like in a canonical body: cheap to look for in the bytes.
COMMITMENT_MARK = b'{"commitment":"'


class TextMismatch(ValueError):
    """Held text and salt that do not open the commitment the entry holds."""


@dataclass(frozen=True, slots=True)
class PersonalText:
    """One field's text and the salt it was committed with, as held outside the chain."""

    salt: bytes
    text: str

    def commitment(self) -> str:
        return commitment(self.salt, self.text)


def commitment(salt: bytes, text: str) -> str:
    """SHA-256, lowercase hex, of the salt followed by the text's UTF-8 bytes."""
    return hashlib.sha256(salt + text.encode("utf-8")).hexdigest()


def commit(text: str, salt: bytes | None = None) -> tuple[dict[str, str], PersonalText]:
    """The commitment an entry records for `text`, and what is held beside the log."""
    held = PersonalText(secrets.token_bytes(SALT_BYTES) if salt is None else salt, text)
    if len(held.salt) != SALT_BYTES:
        raise ValueError(f"a salt is {SALT_BYTES} bytes")
    return {"commitment": held.commitment()}, held


def committed(value: Any) -> str | None:
    """The commitment a payload value records, or None when it is not one."""
    if isinstance(value, Mapping) and len(value) == 1:
        found = value.get("commitment")
        if isinstance(found, str) and _HEX64.fullmatch(found):
            return found
    return None


def committed_fields(payload: Mapping[str, Any]) -> dict[str, str]:
    """Each personal field of a payload with the commitment it records."""
    return {
        name: found for name, value in payload.items() if (found := committed(value)) is not None
    }


def disclose(payload: Mapping[str, Any], held: Mapping[str, PersonalText] | None) -> dict[str, Any]:
    """The payload as a reader sees it: each commitment replaced by its text, or by `ERASED`
    when the text is no longer held. `TextMismatch` when held text does not open its
    commitment: it was changed after it was recorded."""
    shown = dict(payload)
    for name, expected in committed_fields(payload).items():
        text = (held or {}).get(name)
        if text is None:
            shown[name] = ERASED
        elif text.commitment() != expected:
            raise TextMismatch(f"the {name} held for it does not match its commitment")
        else:
            shown[name] = text.text
    return shown
