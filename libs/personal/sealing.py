"""Personal fields sealed under the key of each person they belong to.

A model marks a text field as personal with `PersonalOf(...)`, naming the sibling fields that
hold the people it belongs to: a comment belongs to the rater who wrote it and to the person it
is about. `seal` dumps the model to JSON with each such field replaced by a sealed object,
encrypted under every owner's data key in turn (AES-256-GCM, the key id bound as associated
data); `unseal` opens them again. When any owner's key has been destroyed the field reads as
`ERASED`: one erased owner is enough, since the text is as much about them as about the other.
A field sealed after an owner was erased is written as `ERASED` for the same reason: an erased
person is given no key again.

Sealed objects are recognised by their shape wherever they sit in a document, so opening needs
no knowledge of the model that wrote it, and a document written before a field became personal
simply holds its text.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import os
import typing
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import BaseModel

ERASED = "[erased]"
"""What a personal field reads as once a person it belongs to has been erased."""

SEALED = "sealed"
SCHEME = "aes-256-gcm/1"
_NONCE = 12

M = TypeVar("M", bound=BaseModel)


class SealingError(ValueError):
    """A sealed value is damaged, or a personal field has no one to belong to."""


@dataclass(frozen=True)
class PersonalOf:
    """Marks a text field as personal data of the people named by `owners`: fields holding an
    employee id (or None, when the field has no such owner), of the same model or, when it
    has no such field, of the nearest model it is nested in (an answer's comment belongs to
    the rater and subject of the submission holding it)."""

    owners: tuple[str, ...]

    def __init__(self, *owners: str) -> None:
        if not owners:
            raise TypeError("PersonalOf needs the name of at least one owner field")
        object.__setattr__(self, "owners", owners)


@dataclass(frozen=True)
class DataKey:
    """One person's data key: random, AES-256, known by an id that travels with each seal."""

    key_id: str
    key: bytes


class DataKeys(Protocol):
    """Where data keys live, apart from what they seal, so that destroying one erases."""

    async def for_people(self, people: Collection[str]) -> Mapping[str, DataKey]:
        """Each person's current key, made on first use; a person whose keys were destroyed
        is absent, and is never given a key again."""
        ...

    async def by_ids(self, key_ids: Collection[str]) -> Mapping[str, bytes]:
        """The keys with these ids that still exist; a destroyed key is simply absent."""
        ...

    def forget(self, person: str) -> None:
        """Drop any copy of the person's keys held in this process (they were destroyed)."""
        ...


# -- sealing --------------------------------------------------------------------------------


async def seal(model: BaseModel, keys: DataKeys) -> dict[str, Any]:
    """`model` as JSON, each personal field sealed under the keys of all its owners."""
    document = model.model_dump(mode="json")
    if not holds_personal_data(type(model)):
        return document
    # Nothing, empty text and what already reads as erased say nothing: they stay as they
    # are, and make no one a key (after an erasure, no new key for the person erased).
    found = [
        (container, name, people)
        for container, name, people in _personal_fields(model, document, ())
        if container[name] not in (None, "", ERASED)
    ]
    owners = {person for _, _, people in found for person in people}
    if not owners:
        return document
    by_person = await keys.for_people(owners)
    for container, name, people in found:
        # Text arriving after an owner was erased (an event admitted late) is erased too.
        if any(person not in by_person for person in people):
            container[name] = ERASED
            continue
        value = container[name]
        for person in people:
            value = _seal_one(by_person[person], value)
        container[name] = value
    return document


@functools.cache
def holds_personal_data(model_type: type[BaseModel]) -> bool:
    """Whether `model_type` or a model its fields may hold marks a field `PersonalOf`: only
    those are walked when sealing, so a large document without personal data costs a dump."""
    return _holds(model_type, set())


def _holds(model_type: type[BaseModel], seen: set[type[BaseModel]]) -> bool:
    seen.add(model_type)  # a model that may contain itself is looked at once
    return any(
        any(isinstance(m, PersonalOf) for m in field.metadata)
        or any(_holds(t, seen) for t in _models_in(field.annotation) if t not in seen)
        for field in model_type.model_fields.values()
    )


def _models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for argument in typing.get_args(annotation):
        yield from _models_in(argument)


def _personal_fields(
    model: BaseModel, document: dict[str, Any], enclosing: tuple[BaseModel, ...]
) -> Iterator[tuple[dict[str, Any], str, tuple[str, ...]]]:
    """(the dict holding the field in `document`, its key, its owners) for every personal
    field in `model` and the models nested in it; `enclosing`: the models `model` is nested
    in, nearest first."""
    scope = (model, *enclosing)
    for name, key, marks in _plan(type(model)):
        if key not in document:
            continue
        value = getattr(model, name)
        if not marks:
            yield from _nested(value, document[key], scope)
            continue
        if value is None:
            continue  # nothing to seal, so no owner to look up
        people = tuple(
            dict.fromkeys(
                str(owner)
                for mark in marks
                for owner_field in mark.owners
                if (owner := _owner(scope, owner_field)) is not None
            )
        )
        if not people:
            raise SealingError(
                f"{type(model).__name__}.{name} is personal but names no owner "
                f"({', '.join(o for m in marks for o in m.owners)} are all empty)"
            )
        yield document, key, people


@functools.cache
def _plan(model_type: type[BaseModel]) -> tuple[tuple[str, str, tuple[PersonalOf, ...]], ...]:
    """(field name, its key in the dump, its marks) of the fields sealing must look at: the
    marked ones, and those that may hold a model with marked fields. Planned once per model
    type: walking every field of every event cost more than the encryption."""
    plan = []
    for name, field in model_type.model_fields.items():
        marks = tuple(m for m in field.metadata if isinstance(m, PersonalOf))
        if marks or any(holds_personal_data(t) for t in _models_in(field.annotation)):
            plan.append((name, field.serialization_alias or field.alias or name, marks))
    return tuple(plan)


@functools.cache
def _field_names(model_type: type[BaseModel]) -> frozenset[str]:
    return frozenset(model_type.model_fields)


def _owner(scope: tuple[BaseModel, ...], owner_field: str) -> Any:
    """The owner field's value on the nearest model of `scope` that has the field."""
    for model in scope:
        if owner_field in _field_names(type(model)):
            return getattr(model, owner_field)
    raise SealingError(
        f"{type(scope[0]).__name__} names owner field {owner_field!r}, which neither it nor a "
        "model it is nested in has"
    )


def _nested(
    value: Any, dumped: Any, enclosing: tuple[BaseModel, ...]
) -> Iterator[tuple[dict[str, Any], str, tuple[str, ...]]]:
    if isinstance(value, BaseModel) and isinstance(dumped, dict):
        yield from _personal_fields(value, dumped, enclosing)
    elif isinstance(value, list | tuple) and isinstance(dumped, list):
        for item, dumped_item in zip(value, dumped, strict=True):
            yield from _nested(item, dumped_item, enclosing)
    elif isinstance(value, Mapping) and isinstance(dumped, dict):
        for k, item in value.items():
            if str(k) in dumped:
                yield from _nested(item, dumped[str(k)], enclosing)


def _seal_one(key: DataKey, value: Any) -> dict[str, str]:
    # A value already sealed (for a first owner) is sealed again whole: every owner's key is
    # then needed to read it.
    plain = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    nonce = os.urandom(_NONCE)
    data = nonce + AESGCM(key.key).encrypt(nonce, plain, key.key_id.encode())
    return {SEALED: SCHEME, "key": key.key_id, "data": base64.b64encode(data).decode()}


# -- opening --------------------------------------------------------------------------------


async def unseal(model_type: type[M], document: Mapping[str, Any], keys: DataKeys) -> M:
    """The model `document` was sealed from, erased fields reading as `ERASED`."""
    return model_type.model_validate(await open_document(document, keys))


async def open_document(document: Any, keys: DataKeys) -> Any:
    """`document` with every sealed value opened (or `ERASED`), whatever its model."""
    opened: dict[str, bytes] = {}
    destroyed: set[str] = set()
    while True:
        # An inner seal's key only shows once the seals around it are open.
        wanted = (
            {key_id for value in _sealed_values(document) if (key_id := _next_key(value, opened))}
            - opened.keys()
            - destroyed
        )
        if not wanted:
            return _open(document, opened)
        found = await keys.by_ids(wanted)
        opened.update(found)
        destroyed |= wanted - found.keys()


def _is_sealed(value: Any) -> bool:
    return (
        isinstance(value, Mapping)
        and value.get(SEALED) == SCHEME
        and isinstance(value.get("key"), str)
        and isinstance(value.get("data"), str)
    )


# What a JSON document's leaves are: checked first, since the walks below visit every value
# of every payload a service decodes, and asking whether a string is a Mapping costs more.
_LEAVES = (str, int, float, type(None))


def _sealed_values(document: Any) -> Iterator[Mapping[str, Any]]:
    if isinstance(document, _LEAVES):
        return
    if _is_sealed(document):
        yield document
    elif isinstance(document, Mapping):
        for value in document.values():
            yield from _sealed_values(value)
    elif isinstance(document, list):
        for value in document:
            yield from _sealed_values(value)


def _next_key(value: Mapping[str, Any], opened: Mapping[str, bytes]) -> str | None:
    """The key of the outermost seal of `value` that `opened` cannot open, if any."""
    current: Any = value
    while _is_sealed(current):
        if current["key"] not in opened:
            return str(current["key"])
        current = _decrypt(current, opened[current["key"]])
    return None


def _open(document: Any, opened: Mapping[str, bytes]) -> Any:
    if isinstance(document, _LEAVES):
        return document
    if _is_sealed(document):
        value: Any = document
        while _is_sealed(value):
            key = opened.get(value["key"])
            if key is None:
                return ERASED
            value = _decrypt(value, key)
        return value
    if isinstance(document, Mapping):
        return {k: _open(v, opened) for k, v in document.items()}
    if isinstance(document, list):
        return [_open(v, opened) for v in document]
    return document


def _decrypt(value: Mapping[str, Any], key: bytes) -> Any:
    try:
        data = base64.b64decode(value["data"], validate=True)
        plain = AESGCM(key).decrypt(data[:_NONCE], data[_NONCE:], value["key"].encode())
        return json.loads(plain)
    except (binascii.Error, InvalidTag, ValueError) as error:
        raise SealingError(
            f"a value sealed under key {value['key']!r} does not open: it was altered"
        ) from error
