"""The codec that encrypts every Temporal payload (libs/platform/temporal.py): AES-GCM under
the current key, decryption with any configured key, so keys rotate without stopping cycles."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload

from libs.platform.temporal import (
    ENCRYPTED,
    KEY_ID,
    UNAUTHENTICATED,
    EncryptionCodec,
    PayloadKeyError,
    PayloadKeys,
    data_converter,
)

SECRET = "emp-4711 reports to emp-0815"


async def test_payloads_are_ciphertext_under_the_current_key_and_decode_back() -> None:
    keys = PayloadKeys.generate("k1")
    [payload] = await data_converter(keys).encode([SECRET])
    assert payload.metadata["encoding"] == ENCRYPTED
    assert payload.metadata[KEY_ID] == b"k1"
    assert SECRET.encode() not in payload.SerializeToString()
    assert await data_converter(keys).decode([payload], [str]) == [SECRET]
    [again] = await data_converter(keys).encode([SECRET])
    assert again.data != payload.data, "a fresh nonce for every payload"


async def test_after_a_rotation_old_payloads_decode_and_new_ones_use_the_new_key() -> None:
    old = PayloadKeys.generate("k1")
    [before] = await data_converter(old).encode([SECRET])
    rotated = PayloadKeys.parse(PayloadKeys.generate("k2").dump() + old.dump())
    assert rotated.current == "k2"
    converter = data_converter(rotated)
    assert await converter.decode([before], [str]) == [SECRET]
    [after] = await converter.encode([SECRET])
    assert after.metadata[KEY_ID] == b"k2"
    # A key dropped from the file too early: its payloads read as unauthenticated.
    [refused] = await EncryptionCodec(old).decode([after])
    assert refused.metadata["encoding"] == UNAUTHENTICATED
    assert b"'k2' is not in the payload key file" in refused.metadata["refused"]
    with pytest.raises(KeyError, match="unauthenticated"):
        await data_converter(old).decode([after], [str])


async def test_what_the_keys_did_not_encrypt_is_refused_not_decoded() -> None:
    """Encryption authenticates: a payload in clear, altered, or relabelled decodes to one no
    converter reads, so the SDK drops the signal or rejects the update that carries it; the
    decode itself never fails, so a forged payload cannot wedge a workflow."""
    codec = EncryptionCodec(PayloadKeys.generate("k1"))
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'"pause"')
    [sealed] = await codec.encode([plain])
    flipped = Payload(metadata=dict(sealed.metadata), data=sealed.data[:-1] + b"\x00")
    relabelled = Payload(metadata={**sealed.metadata, KEY_ID: b"k9"}, data=sealed.data)
    decoded = await codec.decode([plain, flipped, relabelled, sealed])
    assert [p.metadata["encoding"] for p in decoded[:3]] == [UNAUTHENTICATED] * 3
    assert decoded[3] == plain
    with pytest.raises(KeyError, match="unauthenticated"):
        await data_converter(PayloadKeys.generate("k1")).decode([plain], [str])


async def test_histories_recorded_before_encryption_replay_with_plaintext_allowed() -> None:
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'"recorded before"')
    codec = EncryptionCodec(PayloadKeys.generate("k1"), plaintext=True)
    assert await codec.decode([plain]) == [plain]


def test_the_key_file_is_generated_once_private_and_parsed_strictly(tmp_path: Path) -> None:
    path = PayloadKeys.ensure(tmp_path / "keys" / "temporal-payload.keys")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first = path.read_text()
    PayloadKeys.ensure(path)
    assert path.read_text() == first, "an existing key is never replaced"
    keys = PayloadKeys.load(path)
    assert list(keys.keys) == [keys.current]
    assert len(keys.keys[keys.current]) == 32

    for text, problem in (
        ("", "holds no key"),
        ("k1 c2hvcnQ=\n", "line 1"),
        ("k1\n", "line 1"),
        (f"# current first\n{keys.dump()}{keys.dump()}", "line 3"),
    ):
        with pytest.raises(PayloadKeyError, match=problem):
            PayloadKeys.parse(text)
    with pytest.raises(PayloadKeyError, match="run `talentledger up`"):
        PayloadKeys.load(tmp_path / "missing")
