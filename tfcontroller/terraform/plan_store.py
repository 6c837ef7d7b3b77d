"""Encodes a saved plan file as encrypted chunk payloads for Secrets, and back. Pure: no I/O.

The whole plan is encrypted once (so the GCM tag authenticates every byte, the chunk order and the
count) and the ciphertext is cut into pieces of at most PLAN_CHUNK_BYTES, below the 1 MiB Secret limit.
The cipher is anything with `encrypt(plaintext, aad)`/`decrypt(blob, aad)`, in practice
tfcontroller.crypto.aead.KeyRing; it is passed in because terraform and crypto are sibling layers.
Bind `aad` to the object and the plan id (e.g. `ns/name/plan-id`) so a stored plan cannot be swapped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from tfcontroller.api.constants import PLAN_CHUNK_BYTES


class Cipher(Protocol):
    def encrypt(self, plaintext: bytes, aad: bytes | str) -> bytes: ...

    def decrypt(self, blob: bytes, aad: bytes | str) -> bytes: ...


def encode_plan(planbytes: bytes, cipher: Cipher, aad: bytes | str,
                chunk_bytes: int = PLAN_CHUNK_BYTES) -> list[bytes]:
    if chunk_bytes <= 0:
        raise ValueError("chunk_bytes must be positive")
    blob = cipher.encrypt(planbytes, aad)
    return [blob[i: i + chunk_bytes] for i in range(0, len(blob), chunk_bytes)]


def decode_plan(chunks: Sequence[bytes], cipher: Cipher, aad: bytes | str) -> bytes:
    """Raises the cipher's error (DecryptionError) when a chunk is missing, reordered or altered."""
    return cipher.decrypt(b"".join(chunks), aad)
