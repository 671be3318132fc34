"""AES-256 keys by id in a private file: the newest encrypts, every one decrypts.

One format for every key the processes are configured with (the Temporal payload keys, the
master keys that wrap each person's data key), so rotation works the same way everywhere:
put a new key first, keep the old ones after it until nothing is encrypted under them.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Self

from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class KeyRingError(ValueError):
    """A key file is missing or malformed, or lacks a key a ciphertext names."""


@dataclass(frozen=True)
class KeyRing:
    """AES-256 keys by id: `current` encrypts, every key decrypts (old ones after a rotation).

    The key file holds one key a line, `<key id> <base64 of 32 bytes>`, the current key
    first; blank lines and `#` comments are ignored.
    """

    current: str
    keys: Mapping[str, bytes]

    # What the file is called in messages, and what to do when it is missing.
    description: ClassVar[str] = "the key file"
    when_missing: ClassVar[str] = "create it with `<key id> <base64 of 32 random bytes>`"
    error: ClassVar[type[KeyRingError]] = KeyRingError

    @classmethod
    def generate(cls, key_id: str | None = None) -> Self:
        key_id = key_id or f"k-{secrets.token_hex(4)}"
        return cls(current=key_id, keys={key_id: AESGCM.generate_key(bit_length=256)})

    @classmethod
    def parse(cls, text: str, source: str | None = None) -> Self:
        source = source or cls.description
        keys: dict[str, bytes] = {}
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            fields = line.split()
            try:
                key = base64.b64decode(fields[1], validate=True) if len(fields) == 2 else b""
            except binascii.Error:
                key = b""
            if len(key) != 32 or fields[0] in keys:
                raise cls.error(
                    f"{source}, line {number}: expected `<unique key id> <base64 of 32 bytes>`"
                )
            keys[fields[0]] = key
        if not keys:
            raise cls.error(f"{source} holds no key")
        return cls(current=next(iter(keys)), keys=keys)

    @classmethod
    def load(cls, path: Path) -> Self:
        try:
            text = path.read_text(encoding="ascii")
        except FileNotFoundError:
            raise cls.error(f"no {cls.description} at {path}: {cls.when_missing}") from None
        return cls.parse(text, str(path))

    def dump(self) -> str:
        ordered = [self.current, *(k for k in self.keys if k != self.current)]
        return "".join(f"{k} {base64.b64encode(self.keys[k]).decode()}\n" for k in ordered)

    @classmethod
    def ensure(cls, path: Path) -> Path:
        """Generate the key file (mode 0600) unless it exists; return its path."""
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # O_EXCL: two processes starting at once never overwrite each other's key.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path
        with os.fdopen(fd, "w", encoding="ascii") as file:
            file.write(cls.generate().dump())
        return path
