"""Data keys held in memory, for unit tests of sealing (the PostgreSQL vault has its own)."""

from __future__ import annotations

import secrets
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from libs.personal.sealing import DataKey


@dataclass
class KeysInMemory:
    """`libs.personal.sealing.DataKeys` in a dict; `erase` destroys a person's key for good."""

    current: dict[str, DataKey] = field(default_factory=dict)
    erased: set[str] = field(default_factory=set)
    lookups: list[set[str]] = field(default_factory=list)

    async def for_people(self, people: Collection[str]) -> Mapping[str, DataKey]:
        for person in set(people) - self.erased - self.current.keys():
            self.current[person] = DataKey(secrets.token_hex(8), secrets.token_bytes(32))
        return {person: self.current[person] for person in people if person not in self.erased}

    async def by_ids(self, key_ids: Collection[str]) -> Mapping[str, bytes]:
        self.lookups.append(set(key_ids))
        live = {k.key_id: k.key for k in self.current.values()}
        return {key_id: live[key_id] for key_id in key_ids if key_id in live}

    def forget(self, person: str) -> None:
        """Nothing is cached: `current` is the store itself."""

    def erase(self, person: str) -> None:
        """Destroy the person's key (if they had one yet) and never make them one again."""
        self.current.pop(person, None)
        self.erased.add(person)
