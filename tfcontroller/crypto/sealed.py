"""Sealed values: secrets that may live in Git because only the controller can open them.

`seal` (run by a user with the controller's public certificate) draws a fresh AES-256-GCM data key,
encrypts the value with it, and wraps the data key with RSA-OAEP (SHA-256). Both the OAEP label and the GCM
associated data are `tfcontroller.io/sealed/v1:<namespace>/<name>`, so a sealed value copied into another
object (another namespace or name) does not open. The envelope also names the fingerprint of the public key
it was sealed for, so a value sealed for another controller gets a clear error.

Envelope (base64 of): version (1) | key fingerprint (8) | wrapped key length (2, big endian) |
wrapped key | nonce (12) | ciphertext + tag.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import os
import struct

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID

from tfcontroller.crypto.errors import SealedValueError

VERSION = 1
RSA_BITS = 4096
FINGERPRINT_BYTES = 8
NONCE_BYTES = 12
CERT_COMMON_NAME = "tfcontroller sealed values"
CERT_VALID_DAYS = 3650


def binding(namespace: str, name: str) -> bytes:
    if not namespace or not name or "/" in namespace or "/" in name:
        raise ValueError("namespace and name are required and must not contain '/'")
    return f"tfcontroller.io/sealed/v1:{namespace}/{name}".encode()


def _oaep(label: bytes) -> padding.OAEP:
    return padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=label)


def generate_key_pair(bits: int = RSA_BITS) -> tuple[bytes, bytes]:
    """(private key PEM, self-signed certificate PEM). The private key never leaves the controller's Secret."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CERT_COMMON_NAME)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=CERT_VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=True, data_encipherment=False,
            key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False,
            decipher_only=False), critical=True)
        .sign(key, hashes.SHA256())
    )
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return private_pem, cert.public_bytes(serialization.Encoding.PEM)


def _public_key(public_pem: bytes | str) -> rsa.RSAPublicKey:
    data = public_pem.encode() if isinstance(public_pem, str) else public_pem
    key: object
    if b"BEGIN CERTIFICATE" in data:
        key = x509.load_pem_x509_certificate(data).public_key()
    else:
        key = serialization.load_pem_public_key(data)
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("the sealing certificate must hold an RSA public key")
    return key


def fingerprint(public_key: rsa.RSAPublicKey) -> bytes:
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).digest()[:FINGERPRINT_BYTES]


def seal(public_pem: bytes | str, namespace: str, name: str, plaintext: bytes | str) -> str:
    """Encrypt `plaintext` for the object `namespace/name`; the result is safe to commit."""
    data = plaintext.encode() if isinstance(plaintext, str) else plaintext
    aad = binding(namespace, name)
    public_key = _public_key(public_pem)
    data_key = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = AESGCM(data_key).encrypt(nonce, data, aad)
    wrapped = public_key.encrypt(data_key, _oaep(aad))
    blob = (bytes([VERSION]) + fingerprint(public_key) + struct.pack(">H", len(wrapped)) + wrapped + nonce
            + ciphertext)
    return base64.b64encode(blob).decode("ascii")


def unseal(private_pem: bytes | str, namespace: str, name: str, sealed: str) -> bytes:
    """Open a sealed value for `namespace/name`; anything else raises SealedValueError (no detail leaks)."""
    aad = binding(namespace, name)
    try:
        blob = base64.b64decode("".join(sealed.split()), validate=True)
    except (binascii.Error, ValueError):
        raise SealedValueError("sealed value is not valid base64") from None
    header = 1 + FINGERPRINT_BYTES + 2
    if len(blob) < header or blob[0] != VERSION:
        raise SealedValueError("sealed value has an unsupported format")
    (wrapped_len,) = struct.unpack(">H", blob[1 + FINGERPRINT_BYTES: header])
    wrapped = blob[header: header + wrapped_len]
    rest = blob[header + wrapped_len:]
    if len(wrapped) != wrapped_len or len(rest) < NONCE_BYTES + 16:
        raise SealedValueError("sealed value is truncated")
    data = private_pem.encode() if isinstance(private_pem, str) else private_pem
    key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the sealing key must be an RSA private key")
    if blob[1: 1 + FINGERPRINT_BYTES] != fingerprint(key.public_key()):
        raise SealedValueError("sealed value was sealed with another controller key")
    try:
        data_key = key.decrypt(wrapped, _oaep(aad))
        return AESGCM(data_key).decrypt(rest[:NONCE_BYTES], rest[NONCE_BYTES:], aad)
    except Exception:  # OAEP ValueError or GCM InvalidTag: both mean "not for this object"
        raise SealedValueError(
            f"sealed value cannot be opened for {namespace}/{name} (sealed for another object, or corrupted)"
        ) from None
