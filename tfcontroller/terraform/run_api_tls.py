"""The run API's TLS material: a CA and a serving certificate, kept in the Secret `tfcontroller-run-api`.

Why a Secret and not a fresh CA per start: runner Pods get the CA when they are created (`ca.crt` of their
per-run Secret) and may outlive the controller that made them; a new leader must present a certificate
they still trust, so the CA is created once (EC P-256) and reused. The serving certificate is renewed with
the same CA when it expires within `RENEW_BEFORE` or does not cover the hosts asked for (an advertise URL
that changed); the CA itself only when it is about to expire.

`cryptography` builds the certificates; the decisions (which hosts, is renewal due) are pure functions.
"""

from __future__ import annotations

import base64
import ipaddress
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.errors import AlreadyExists, Conflict
from tfcontroller.kube.resources import SECRETS

log = logging.getLogger(__name__)

SECRET_NAME = "tfcontroller-run-api"
SERVICE_NAME = "tfcontroller-runs"
CA_CERT, CA_KEY, TLS_CERT, TLS_KEY = "ca.crt", "ca.key", "tls.crt", "tls.key"
CA_VALIDITY = timedelta(days=3650)
SERVING_VALIDITY = timedelta(days=365)
RENEW_BEFORE = timedelta(days=30)
_BACKDATE = timedelta(minutes=5)  # clocks of runner nodes may lag a little


@dataclass(frozen=True)
class TlsMaterial:
    """PEM texts. `ca_pem` is what runners trust; the key never leaves the controller."""

    ca_pem: str
    cert_pem: str
    key_pem: str


def serving_hosts(namespace: str, advertise_url: str | None) -> list[str]:
    """The names the serving certificate covers: loopback, the Service of the controller's namespace, and
    the advertise URL's host (as given: a name or an address)."""
    hosts = ["127.0.0.1", "localhost", f"{SERVICE_NAME}.{namespace}.svc",
             f"{SERVICE_NAME}.{namespace}.svc.cluster.local"]
    if advertise_url:
        host = urlsplit(advertise_url).hostname
        if host and host not in hosts:
            hosts.append(host)
    return hosts


def renewal_due(cert_pem: str, ca_pem: str, hosts: list[str], now: datetime) -> str | None:
    """Why the serving certificate must be made again (None: keep it): it expires soon, it misses a host,
    or it was not signed by the CA kept beside it."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem.encode())
        ca = x509.load_pem_x509_certificate(ca_pem.encode())
    except ValueError:
        return "unreadable certificate"
    if cert.not_valid_after_utc - now < RENEW_BEFORE:
        return f"expires {cert.not_valid_after_utc.isoformat()}"
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return "not issued by the stored CA"
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return "no subjectAltName"
    covered = {str(v) for v in sans.get_values_for_type(x509.DNSName)}
    covered |= {str(v) for v in sans.get_values_for_type(x509.IPAddress)}
    missing = [h for h in hosts if h not in covered]
    return f"does not cover {', '.join(missing)}" if missing else None


def ca_due(ca_pem: str, now: datetime) -> bool:
    try:
        ca = x509.load_pem_x509_certificate(ca_pem.encode())
    except ValueError:
        return True
    return ca.not_valid_after_utc - now < RENEW_BEFORE


def _key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def make_ca(now: datetime) -> tuple[str, str]:
    """A fresh CA: (certificate PEM, key PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tfcontroller run API CA")])
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE).not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode(), _key_pem(key)


def _san(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def make_serving(ca_pem: str, ca_key_pem: str, hosts: list[str], now: datetime) -> tuple[str, str]:
    """A serving certificate for `hosts`, signed by the CA: (certificate PEM, key PEM)."""
    ca = x509.load_pem_x509_certificate(ca_pem.encode())
    ca_key = serialization.load_pem_private_key(ca_key_pem.encode(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError("the run API's CA key is not an EC key")
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE).not_valid_after(now + SERVING_VALIDITY)
        .add_extension(x509.SubjectAlternativeName([_san(h) for h in hosts]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode(), _key_pem(key)


def _decoded(secret: dict[str, object]) -> dict[str, str]:
    data = secret.get("data") or {}
    assert isinstance(data, dict)
    return {str(k): base64.b64decode(str(v)).decode() for k, v in data.items()}


def _material(data: dict[str, str], hosts: list[str], now: datetime) -> tuple[dict[str, str], str | None]:
    """The Secret's data as it should be, and why it changed (None: unchanged)."""
    if not data.get(CA_CERT) or not data.get(CA_KEY) or ca_due(data[CA_CERT], now):
        ca_pem, ca_key = make_ca(now)
        cert, key = make_serving(ca_pem, ca_key, hosts, now)
        return ({CA_CERT: ca_pem, CA_KEY: ca_key, TLS_CERT: cert, TLS_KEY: key},
                "new CA" if not data.get(CA_CERT) else "CA expiring, new CA")
    why = "no key" if not data.get(TLS_KEY) else renewal_due(data.get(TLS_CERT, ""), data[CA_CERT], hosts, now)
    if why is None:
        return data, None
    cert, key = make_serving(data[CA_CERT], data[CA_KEY], hosts, now)
    return {**data, TLS_CERT: cert, TLS_KEY: key}, f"serving certificate renewed ({why})"


def ensure_tls(kube: KubeClient, namespace: str, hosts: list[str]) -> TlsMaterial:
    """Read the Secret, create or renew what is missing or due, and return the material to serve with.

    Two controllers starting at once (leader hand-over) may both write: the create is AlreadyExists or the
    replace a Conflict for one of them, which then reads again and takes what the other wrote.
    """
    for _ in range(5):
        now = datetime.now(UTC)
        existing = kube.get_or_none(SECRETS, SECRET_NAME, namespace)
        data = _decoded(existing) if existing else {}
        wanted, why = _material(data, hosts, now)
        if why is None:
            return TlsMaterial(wanted[CA_CERT], wanted[TLS_CERT], wanted[TLS_KEY])
        encoded = {k: base64.b64encode(v.encode()).decode() for k, v in wanted.items()}
        try:
            if existing is None:
                kube.create(SECRETS, {"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "data": encoded,
                                      "metadata": {"name": SECRET_NAME, "namespace": namespace, "labels": {
                                          "app.kubernetes.io/managed-by": "tfcontroller"}}})
            else:
                kube.replace(SECRETS, {**existing, "data": encoded})
        except (AlreadyExists, Conflict):
            continue
        log.info("run API TLS material in Secret %s/%s: %s", namespace, SECRET_NAME, why)
        return TlsMaterial(wanted[CA_CERT], wanted[TLS_CERT], wanted[TLS_KEY])
    raise RuntimeError(f"Secret {namespace}/{SECRET_NAME} kept changing while the run API read it")
