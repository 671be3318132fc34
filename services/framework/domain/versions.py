"""Differences between framework versions, and whether a revision is minor or major
(docs/domain.md §2, Versions).

A minor revision rewords: names, descriptions, level descriptors, anchors (a competency's or a
sub-skill's own), expected behaviours, vocabulary. Anything else changes structure (a level
added, a track split, a target moved, a competency deployed elsewhere) and makes the revision
major. HR may declare a revision major when the service finds it minor, never the other way
round.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, PrivateAttr

from libs.events.schemas.framework import Framework, Revision

# Lists whose items have an identity: compared item by item rather than as a whole.
IDENTITY: dict[str, Any] = {
    "categories": lambda c: c["key"],
    "families": lambda f: f["key"],
    "tracks": lambda t: t["kind"],
    "levels": lambda lv: lv["code"],
    "competencies": lambda c: c["key"],
    "sub_skills": lambda s: s["key"],
    # a family's own anchor is told apart by its family; common ones keep their short path
    "anchors": lambda a: (
        f"{a['family'] + ':' if a.get('family') else ''}{a['track']}/{a['proficiency']}"
    ),
    "roles": lambda r: r["key"],
    "requirements": lambda q: q["competency"],
    "rules": lambda r: r["key"],
    "lateral_paths": lambda p: f"{p['from_family']}->{p['to_family']}",
}
WORDING = {"name", "description", "text", "behaviours", "standard_term", "taxonomy"}
DESCRIPTOR = "descriptor"


class Change(BaseModel):
    model_config = ConfigDict(frozen=True)

    path: str
    change: Literal["added", "removed", "changed"]
    before: Any = None
    after: Any = None
    # The fields the path goes through, identities left out (`competencies[x].anchors[ic/3]`:
    # competencies, anchors), and whether it ends at an item of the last one. Keys may hold
    # dots and level codes anything, so the text of `path` cannot tell a field from part of
    # an identity (a sub-skill `x.descriptor.y`, a level `L5.anchors[x`): `diff` records
    # them as it walks.
    _fields: tuple[str, ...] = PrivateAttr(default=())
    _at_item: bool = PrivateAttr(default=False)

    @property
    def is_wording(self) -> bool:
        """Rewording, or an anchor written or withdrawn: what a minor revision may do. Only a
        change `diff` found is classified; one made by hand has no fields and counts as
        structure."""
        if not self._fields:
            return False
        last = self._fields[-1]
        if self._at_item:
            return last == "anchors" and self.change != "changed"
        return last in WORDING or DESCRIPTOR in self._fields


def diff(before: Framework, after: Framework) -> list[Change]:
    """Every difference, in document order, with paths like `competencies[x].anchors[ic/3]`
    (a sub-skill's: `competencies[x].sub_skills[y].anchors[ic/3]`)."""
    return list(
        _diff(_keyed(before.model_dump(mode="json")), _keyed(after.model_dump(mode="json")), "")
    )


def revision_of(changes: list[Change]) -> Literal["minor", "major"]:
    return "minor" if all(c.is_wording for c in changes) else "major"


def choose_revision(changes: list[Change] | None, requested: Revision | None) -> Revision:
    """The revision the changes call for (None: a first version), raised to the one HR asked
    for, never lowered."""
    if changes is None:
        return "initial"
    found = revision_of(changes)
    return "major" if "major" in (found, requested) else "minor"


class _Keyed(dict[str, Any]):
    """A list of identified items turned into a mapping by identity (paths use brackets)."""


def _keyed(value: Any, field: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _keyed(v, k) for k, v in value.items()}
    if isinstance(value, list) and field in IDENTITY:
        return _Keyed((IDENTITY[field](item), _keyed(item)) for item in value)
    return value


def _diff(
    before: Any, after: Any, path: str, fields: tuple[str, ...] = (), at_item: bool = False
) -> Iterator[Change]:
    if isinstance(before, dict) and isinstance(after, dict):
        keyed = isinstance(before, _Keyed)
        for key in [*before, *(k for k in after if k not in before)]:
            if keyed:
                here, into = f"{path}[{key}]", (fields, True)
            else:
                here, into = (f"{path}.{key}" if path else key), ((*fields, key), False)
            if key not in after:
                yield _change(here, into, "removed", before=before[key])
            elif key not in before:
                yield _change(here, into, "added", after=after[key])
            else:
                yield from _diff(before[key], after[key], here, *into)
    elif before != after:
        yield _change(path, (fields, at_item), "changed", before=before, after=after)


def _change(
    path: str,
    where: tuple[tuple[str, ...], bool],
    change: Literal["added", "removed", "changed"],
    before: Any = None,
    after: Any = None,
) -> Change:
    found = Change(path=path, change=change, before=before, after=after)
    found._fields, found._at_item = where
    return found
