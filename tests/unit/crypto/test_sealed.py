"""Sealed values: RSA-OAEP 4096 key pair and self-signed certificate, seal/unseal round trip, and
refusal of a value replayed in another namespace or name, sealed for another key, or corrupted."""

from __future__ import annotations

import pytest
from cryptography import x509

from tfcontroller.crypto.errors import SealedValueError
from tfcontroller.crypto.sealed import CERT_COMMON_NAME, generate_key_pair, seal, unseal


@pytest.fixture(scope="module")
def keys() -> tuple[bytes, bytes]:
    return generate_key_pair()


def test_certificate(keys: tuple[bytes, bytes]) -> None:
    private_pem, cert_pem = keys
    cert = x509.load_pem_x509_certificate(cert_pem)
    assert cert.public_key().key_size == 4096
    assert CERT_COMMON_NAME in cert.subject.rfc4514_string()
    assert b"PRIVATE KEY" in private_pem and b"PRIVATE" not in cert_pem


def test_round_trip(keys: tuple[bytes, bytes]) -> None:
    private_pem, cert_pem = keys
    sealed = seal(cert_pem, "team-a", "web", "p@ssw0rd")
    assert "p@ssw0rd" not in sealed
    assert unseal(private_pem, "team-a", "web", sealed) == b"p@ssw0rd"
    assert seal(cert_pem, "team-a", "web", "p@ssw0rd") != sealed  # fresh data key and nonce each time


@pytest.mark.parametrize(("namespace", "name"), [("team-b", "web"), ("team-a", "api"), ("team", "a-web")])
def test_replay_in_another_object_refused(keys: tuple[bytes, bytes], namespace: str, name: str) -> None:
    private_pem, cert_pem = keys
    sealed = seal(cert_pem, "team-a", "web", b"value")
    with pytest.raises(SealedValueError) as err:
        unseal(private_pem, namespace, name, sealed)
    assert "value" not in err.value.message.replace("sealed value", "")


def test_other_key_and_corruption_refused(keys: tuple[bytes, bytes]) -> None:
    private_pem, cert_pem = keys
    other_private, other_cert = generate_key_pair(bits=2048)
    with pytest.raises(SealedValueError, match="another controller key"):
        unseal(private_pem, "ns", "n", seal(other_cert, "ns", "n", b"v"))
    with pytest.raises(SealedValueError):
        unseal(private_pem, "ns", "n", "not base64!!")
    sealed = bytearray(seal(cert_pem, "ns", "n", b"v").encode())
    sealed[-6] = ord("A") if sealed[-6] != ord("A") else ord("B")
    with pytest.raises(SealedValueError):
        unseal(private_pem, "ns", "n", sealed.decode())
