"""AES-256-GCM with key ids, for data the controller stores (saved plans) and must read back later.

Envelope (bytes): version (1) | key id length (1) | key id (ASCII) | nonce (12) | ciphertext + tag.
The header is part of the associated data, together with the caller's `aad` (e.g. `namespace/name`), so a
ciphertext copied to another object, or with its key id edited, fails to decrypt. A `KeyRing` holds every
key still needed to read old data and encrypts with the active one: rotation is adding a key and making it
active; old envelopes keep naming their key.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tfcontroller.crypto.errors import DecryptionError

VERSION = 1
KEY_BYTES = 32
NONCE_BYTES = 12
_KEY_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def generate_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def new_key_id() -> str:
    return "k" + secrets.token_hex(6)


def _as_bytes(aad: bytes | str) -> bytes:
    return aad.encode() if isinstance(aad, str) else aad


@dataclass(frozen=True)
class KeyRing:
    keys: Mapping[str, bytes] = field(repr=False)
    active_id: str

    def __post_init__(self) -> None:
        for kid, key in self.keys.items():
            if not _KEY_ID.match(kid):
                raise ValueError(f"invalid key id {kid!r}")
            if len(key) != KEY_BYTES:
                raise ValueError(f"key {kid} must be {KEY_BYTES} bytes")
        if self.active_id not in self.keys:
            raise ValueError(f"active key {self.active_id!r} is not in the key ring")

    @classmethod
    def generate(cls, key_id: str | None = None) -> KeyRing:
        kid = key_id or new_key_id()
        return cls({kid: generate_key()}, kid)

    def rotated(self, key_id: str | None = None) -> KeyRing:
        """A ring with a new active key; the old keys stay for decryption."""
        kid = key_id or new_key_id()
        return KeyRing({**self.keys, kid: generate_key()}, kid)

    def encrypt(self, plaintext: bytes, aad: bytes | str) -> bytes:
        kid = self.active_id.encode()
        header = bytes([VERSION, len(kid)]) + kid
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self.keys[self.active_id]).encrypt(nonce, plaintext, header + _as_bytes(aad))
        return header + nonce + sealed

    def decrypt(self, blob: bytes, aad: bytes | str) -> bytes:
        if len(blob) < 2 or blob[0] != VERSION:
            raise DecryptionError("unsupported or corrupt envelope")
        n = blob[1]
        header, rest = blob[: 2 + n], blob[2 + n:]
        kid = header[2:].decode("ascii", errors="replace")
        if kid not in self.keys:
            raise DecryptionError(f"encrypted with unknown key id {kid!r}")
        if len(rest) < NONCE_BYTES + 16:
            raise DecryptionError("truncated envelope")
        try:
            return AESGCM(self.keys[kid]).decrypt(rest[:NONCE_BYTES], rest[NONCE_BYTES:], header + _as_bytes(aad))
        except InvalidTag:
            raise DecryptionError("ciphertext does not authenticate (tampered, or bound to another object)") \
                from None

    @staticmethod
    def key_id_of(blob: bytes) -> str:
        """Which key encrypted `blob`, to tell when stored data still needs an old key."""
        if len(blob) < 2 or blob[0] != VERSION:
            raise DecryptionError("unsupported or corrupt envelope")
        return blob[2: 2 + blob[1]].decode("ascii", errors="replace")
