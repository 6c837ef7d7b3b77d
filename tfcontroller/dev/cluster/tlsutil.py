"""A throw-away certificate authority and a server certificate for 127.0.0.1, made at start-up.

EC P-256 keys because generating them takes milliseconds (RSA takes far longer), and every client
we care about (Go, Python's ssl) accepts them.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class CertFiles:
    ca_pem: bytes
    cert_path: Path
    key_path: Path
    ca_path: Path  # the CA certificate alone: what a Pod's projected `ca.crt` and in-cluster config read


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def load_or_make_certificates(directory: Path) -> CertFiles:
    """The certificates already in `directory` (a restarted cluster with a state file keeps its CA, so
    clients holding the old kubeconfig still trust it), or new ones."""
    ca_path, cert_path, key_path = directory / "ca.crt", directory / "server.crt", directory / "server.key"
    if ca_path.exists() and cert_path.exists() and key_path.exists():
        return CertFiles(ca_path.read_bytes(), cert_path, key_path, ca_path)
    return make_certificates(directory)


def make_certificates(directory: Path) -> CertFiles:
    """Write ca.crt, server.crt and server.key into `directory`; return them with the CA certificate in PEM."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("dev-cluster-ca"))
        .issuer_name(_name("dev-cluster-ca"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("dev-cluster"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "server.crt", directory / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.touch(mode=0o600)
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM)
    ca_path = directory / "ca.crt"
    ca_path.write_bytes(ca_pem)
    return CertFiles(ca_pem, cert_path, key_path, ca_path)
