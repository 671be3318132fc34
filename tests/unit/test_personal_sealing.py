"""Personal fields sealed under a key per person (libs/personal/sealing.py): what a sealed
document holds, how it opens, and how destroying one owner's key erases (docs/architecture.md,
crypto-shredding)."""

from __future__ import annotations

import json
from typing import Annotated

import pytest
from pydantic import BaseModel

from libs.personal.sealing import (
    ERASED,
    PersonalOf,
    SealingError,
    holds_personal_data,
    open_document,
    seal,
    unseal,
)
from tests.support.personal_keys import KeysInMemory


class Comment(BaseModel):
    rater_id: str
    subject_id: str
    text: Annotated[str, PersonalOf("rater_id", "subject_id")]
    score: int


class Feedback(BaseModel):
    campaign_id: str
    subject_id: str
    subject_name: Annotated[str | None, PersonalOf("subject_id")] = None
    comments: list[Comment] = []


def _feedback() -> Feedback:
    return Feedback(
        campaign_id="c-1",
        subject_id="emp-ada",
        subject_name="Ada Quill",
        comments=[
            Comment(rater_id="emp-bo", subject_id="emp-ada", text="Unblocks the team", score=4),
            Comment(rater_id="emp-cy", subject_id="emp-ada", text="Writes clear RFCs", score=3),
        ],
    )


async def test_a_sealed_document_holds_no_personal_text_and_opens_to_the_same_model() -> None:
    keys = KeysInMemory()
    document = await seal(_feedback(), keys)
    stored = json.dumps(document)
    for text in ("Ada Quill", "Unblocks the team", "Writes clear RFCs"):
        assert text not in stored
    assert document["campaign_id"] == "c-1", "only personal fields are sealed"
    assert document["comments"][0]["score"] == 4
    assert await unseal(Feedback, document, keys) == _feedback()


async def test_erasing_the_subject_erases_their_name_and_every_comment_about_them() -> None:
    keys = KeysInMemory()
    document = await seal(_feedback(), keys)
    keys.erase("emp-ada")
    opened = await unseal(Feedback, document, keys)
    assert opened.subject_name == ERASED
    assert [c.text for c in opened.comments] == [ERASED, ERASED]
    assert [c.score for c in opened.comments] == [4, 3], "what is not personal stays"


async def test_erasing_one_rater_erases_only_what_they_wrote() -> None:
    keys = KeysInMemory()
    document = await seal(_feedback(), keys)
    keys.erase("emp-bo")
    opened = await unseal(Feedback, document, keys)
    assert opened.subject_name == "Ada Quill"
    assert [c.text for c in opened.comments] == [ERASED, "Writes clear RFCs"]


async def test_keys_are_looked_up_once_per_layer_not_once_per_field() -> None:
    keys = KeysInMemory()
    document = await seal(_feedback(), keys)
    keys.lookups.clear()
    await open_document(document, keys)
    # Comments are sealed under the subject's key inside the rater's: two rounds.
    assert len(keys.lookups) == 2


async def test_an_altered_seal_is_refused_not_read_as_erased() -> None:
    keys = KeysInMemory()
    document = await seal(_feedback(), keys)
    sealed = document["subject_name"]
    document["subject_name"] = {**sealed, "data": sealed["data"][:-4] + "AAAA"}
    with pytest.raises(SealingError, match="altered"):
        await open_document(document, keys)


async def test_a_document_written_before_a_field_was_personal_reads_as_it_was() -> None:
    plain = _feedback().model_dump(mode="json")
    assert await unseal(Feedback, plain, KeysInMemory()) == _feedback()


async def test_a_personal_field_with_no_owner_is_refused_and_none_stays_none() -> None:
    keys = KeysInMemory()
    anonymous = Feedback(campaign_id="c-2", subject_id="emp-dee")
    assert (await seal(anonymous, keys))["subject_name"] is None

    class Orphan(BaseModel):
        owner: str | None
        note: Annotated[str, PersonalOf("owner")]

    with pytest.raises(SealingError, match="names no owner"):
        await seal(Orphan(owner=None, note="who is this about?"), keys)
    assert (await seal(Orphan(owner="emp-x", note="n"), keys))["note"]["key"]


async def test_each_seal_uses_a_fresh_nonce() -> None:
    keys = KeysInMemory()
    first = await seal(_feedback(), keys)
    second = await seal(_feedback(), keys)
    assert first["subject_name"]["key"] == second["subject_name"]["key"]
    assert first["subject_name"]["data"] != second["subject_name"]["data"]


def test_only_models_that_may_hold_personal_fields_are_walked() -> None:
    class Plain(BaseModel):
        levels: list[str]

    class Outer(BaseModel):
        inner: dict[str, list[Comment]] | None

    assert holds_personal_data(Feedback)
    assert holds_personal_data(Outer), "found through dict, list and optional"
    assert not holds_personal_data(Plain)


def test_a_model_that_contains_itself_is_inspected_once() -> None:
    class Node(BaseModel):
        owner: str
        label: Annotated[str, PersonalOf("owner")]
        children: list[Node] = []

    class Tree(BaseModel):
        root: Node

    assert holds_personal_data(Tree)


class Answer(BaseModel):
    item: str
    comment: Annotated[str | None, PersonalOf("rater_id", "subject_id")] = None


class Submission(BaseModel):
    rater_id: str
    subject_id: str
    answers: list[Answer]


class Stray(BaseModel):
    text: Annotated[str, PersonalOf("author_id")]


async def test_a_nested_field_belongs_to_the_owners_the_model_holding_it_names() -> None:
    keys = KeysInMemory()
    submission = Submission(
        rater_id="emp-bo",
        subject_id="emp-ada",
        answers=[Answer(item="q1", comment="Explains trade-offs well"), Answer(item="q2")],
    )
    document = await seal(submission, keys)
    assert "trade-offs" not in json.dumps(document)
    assert document["answers"][1]["comment"] is None
    assert await unseal(Submission, document, keys) == submission
    keys.erase("emp-bo")
    assert (await unseal(Submission, document, keys)).answers[0].comment == ERASED


async def test_an_owner_field_that_no_model_around_the_field_has_is_refused() -> None:
    with pytest.raises(SealingError, match="names owner field 'author_id'"):
        await seal(Stray(text="anything"), KeysInMemory())


async def test_nothing_to_seal_makes_no_key_so_an_erased_person_gets_none_again() -> None:
    keys = KeysInMemory()
    for name in (None, "", ERASED):
        feedback = Feedback(campaign_id="c-1", subject_id="emp-ada", subject_name=name)
        assert await seal(feedback, keys) == feedback.model_dump(mode="json")
    assert keys.current == {}, "no key made for empty or erased text"


async def test_text_arriving_after_an_owner_was_erased_is_stored_erased_under_no_key() -> None:
    keys = KeysInMemory()
    await seal(_feedback(), keys)
    keys.erase("emp-bo")
    keys.erase("emp-zed")  # erased before anything was ever sealed for them
    document = await seal(_feedback(), keys)  # the same facts, arriving again
    assert document["comments"][0]["text"] == ERASED, "one erased owner is enough"
    assert "Unblocks the team" not in json.dumps(document)
    assert document["comments"][1]["text"] != "Writes clear RFCs", "the others' text is sealed"
    opened = await unseal(Feedback, document, keys)
    assert opened.subject_name == "Ada Quill"
    assert [c.text for c in opened.comments] == [ERASED, "Writes clear RFCs"]

    about_zed = await seal(
        Feedback(campaign_id="c-2", subject_id="emp-zed", subject_name="Zed"), keys
    )
    assert about_zed["subject_name"] == ERASED
    assert keys.current.keys() == {"emp-ada", "emp-cy"}, "never a key again for the erased"
