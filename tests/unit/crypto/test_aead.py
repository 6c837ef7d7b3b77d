"""AES-256-GCM key ring: round trip, binding to associated data, tamper detection, and key rotation
(old ciphertexts still open after a new key becomes active)."""

from __future__ import annotations

import pytest

from tfcontroller.crypto.aead import KeyRing, generate_key
from tfcontroller.crypto.errors import DecryptionError


def test_round_trip_and_key_id() -> None:
    ring = KeyRing.generate("k1")
    blob = ring.encrypt(b"plan bytes", "ns/name")
    assert b"plan bytes" not in blob
    assert KeyRing.key_id_of(blob) == "k1"
    assert ring.decrypt(blob, b"ns/name") == b"plan bytes"


def test_wrong_aad_and_tampering_refused() -> None:
    ring = KeyRing.generate()
    blob = ring.encrypt(b"x" * 100, "ns/a")
    with pytest.raises(DecryptionError):
        ring.decrypt(blob, "ns/b")
    tampered = bytearray(blob)
    tampered[-1] ^= 1
    with pytest.raises(DecryptionError):
        ring.decrypt(bytes(tampered), "ns/a")
    with pytest.raises(DecryptionError):
        ring.decrypt(b"\x09junk", "ns/a")


def test_rotation_keeps_old_ciphertexts_readable() -> None:
    old = KeyRing.generate("k1")
    blob_old = old.encrypt(b"old", "aad")
    new = old.rotated("k2")
    assert new.active_id == "k2"
    blob_new = new.encrypt(b"new", "aad")
    assert KeyRing.key_id_of(blob_new) == "k2"
    assert new.decrypt(blob_old, "aad") == b"old"
    assert new.decrypt(blob_new, "aad") == b"new"
    with pytest.raises(DecryptionError, match="unknown key id"):
        old.decrypt(blob_new, "aad")


def test_key_id_edit_detected() -> None:
    ring = KeyRing({"ka": generate_key(), "kb": generate_key()}, "ka")
    blob = ring.encrypt(b"v", "aad")
    swapped = blob.replace(b"ka", b"kb", 1)
    with pytest.raises(DecryptionError):
        ring.decrypt(swapped, "aad")


def test_invalid_rings() -> None:
    with pytest.raises(ValueError):
        KeyRing({"k": b"short"}, "k")
    with pytest.raises(ValueError):
        KeyRing({"k": generate_key()}, "other")
    assert "keys=" not in repr(KeyRing({"k": generate_key()}, "k"))
