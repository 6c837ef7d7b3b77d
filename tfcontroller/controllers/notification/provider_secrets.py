"""A NotificationProvider's settings with its Secrets read: what the rule controller delivers with and what
the provider controller reports on (one reader for both, so they never disagree on whether it can deliver).

`resolve_provider` reads `secretRef` and `certSecretRef` (same namespace) once and returns the effective
address, token, proxy, CA bundle and smtp keys (a Secret's `address`/`proxy` win over the spec's), each
referenced Secret's resourceVersion (`status.rejected.secretVersions` is compared with them) and the values to
scrub from every message. What it refuses, as `ProviderSecretError(reason, message)`; the message names the
Secret and key, never a value:
- `SecretNotFound`: a referenced Secret is missing, or lacks a key this provider needs (`address` for an http
  type without spec.address; `ca.crt` of certSecretRef; smtp `host`, and `from` unless spec.from). Creating or
  fixing the Secret resolves it (the provider controller watches the Secrets).
- `SecretInvalid`: a value that can never work (an address or proxy that is not an http(s) URL, a CA bundle
  that is not PEM, smtp settings the mail transport refuses) or a ServiceAccount token Secret: a provider
  would send that token (`token` key: a webhook's HMAC key, flux's bearer token) to an address its author
  chose, so a provider may not be used to carry a ServiceAccount's credentials out of the cluster.
"""

from __future__ import annotations

import base64
import binascii
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tfcontroller.api.errors import ReconcileError, SpecError
from tfcontroller.api.notification import (
    HTTP_PROVIDER_TYPES,
    KEY_ADDRESS,
    KEY_CA,
    KEY_PROXY,
    KEY_TOKEN,
    REASON_SECRET_INVALID,
    REASON_SECRET_NOT_FOUND,
    SMTP_KEYS,
    NotificationProvider,
    check_url,
)
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import SECRETS
from tfcontroller.notify.config import SMTPConfig
from tfcontroller.notify.errors import ConfigError

SERVICE_ACCOUNT_TOKEN_TYPE = "kubernetes.io/service-account-token"  # noqa: S105 - a Secret type, not a secret
_SCRUBBED_SMTP_KEYS = ("username", "password")  # host, port, from, tls are no secrets, and short values
#                                                 scrubbed everywhere would garble messages


class ProviderSecretError(ReconcileError):
    """A referenced Secret is missing, lacks a key, or holds a value that cannot work (reason says which)."""


@dataclass(frozen=True)
class ResolvedProvider:
    """A provider's effective settings; the fields holding secrets stay out of repr (logs, tracebacks)."""

    provider: NotificationProvider
    address: str = field(default="", repr=False)
    token: str = field(default="", repr=False)
    proxy: str = field(default="", repr=False)
    ca_pem: str | None = field(default=None, repr=False)
    smtp: dict[str, str] = field(default_factory=dict, repr=False)
    secret_versions: dict[str, str] = field(default_factory=dict)
    secret_values: tuple[str, ...] = field(default=(), repr=False)


def resolve_provider(kube: KubeClient, provider: NotificationProvider) -> ResolvedProvider:
    """Read the provider's Secrets and return its effective settings; ProviderSecretError when they cannot
    work. Kubernetes API errors other than 404 propagate (transient: the caller retries)."""
    secrets = {name: _read_secret(kube, provider.namespace, name) for name in provider.secret_names}
    versions = {name: str((obj.get("metadata") or {}).get("resourceVersion") or "") for name, obj in secrets.items()}
    main = _values(secrets[provider.secret_name]) if provider.secret_name else {}
    where = f"Secret {provider.namespace}/{provider.secret_name}"
    address = proxy = token = ""
    smtp: dict[str, str] = {}
    if provider.type in HTTP_PROVIDER_TYPES:
        address = _http_address(provider, main, where)
        proxy = _url_value(main, KEY_PROXY, where) or provider.proxy
        token = main.get(KEY_TOKEN, "")
    elif provider.type == "smtp" and provider.secret_name:
        smtp = _smtp(provider, main, where)
    ca_pem = _ca_bundle(provider, secrets) if provider.cert_secret_name else None
    scrubbed = [main.get(k, "") for k in (KEY_ADDRESS, KEY_PROXY, KEY_TOKEN, *_SCRUBBED_SMTP_KEYS)]
    return ResolvedProvider(provider, address=address, token=token, proxy=proxy, ca_pem=ca_pem, smtp=smtp,
                            secret_versions=versions, secret_values=tuple(v for v in scrubbed if v))


def _read_secret(kube: KubeClient, namespace: str, name: str) -> dict[str, Any]:
    obj = kube.get_or_none(SECRETS, name, namespace)
    if obj is None:
        raise ProviderSecretError(REASON_SECRET_NOT_FOUND,
                                  f"Secret {namespace}/{name} not found: create it in namespace {namespace}")
    if obj.get("type") == SERVICE_ACCOUNT_TOKEN_TYPE:
        raise ProviderSecretError(REASON_SECRET_INVALID,
                                  f"Secret {namespace}/{name} is a ServiceAccount token ({SERVICE_ACCOUNT_TOKEN_TYPE}): "
                                  "a provider would send it to its address; use a Secret of its own")
    return obj


def _values(obj: Mapping[str, Any]) -> dict[str, str]:
    """The Secret's data as text (undecodable bytes as U+FFFD, as kube/values.py reads Secrets)."""
    out: dict[str, str] = {}
    for key, raw in (obj.get("data") or {}).items():
        try:
            out[key] = base64.b64decode(raw or "").decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            continue
    return out


def _missing(where: str, key: str, why: str) -> ProviderSecretError:
    return ProviderSecretError(REASON_SECRET_NOT_FOUND, f"{where} has no key {key!r}: {why}")


def _invalid(where: str, key: str, why: str) -> ProviderSecretError:
    return ProviderSecretError(REASON_SECRET_INVALID, f"{where} key {key!r}: {why}")


def _url_value(values: Mapping[str, str], key: str, where: str) -> str:
    value = values.get(key, "").strip()
    if not value:
        return ""
    try:
        return check_url(value, key)
    except SpecError as exc:
        raise _invalid(where, key, exc.detail) from None


def _http_address(provider: NotificationProvider, main: Mapping[str, str], where: str) -> str:
    address = _url_value(main, KEY_ADDRESS, where) or provider.address
    if not address:
        raise _missing(where, KEY_ADDRESS, f"a {provider.type} provider without spec.address takes its URL "
                                           "from this key")
    return address


def _smtp(provider: NotificationProvider, main: Mapping[str, str], where: str) -> dict[str, str]:
    """The smtp keys of the Secret (spec.from overrides `from`), checked by the transport's own parser."""
    smtp = {k: main[k] for k in SMTP_KEYS if main.get(k)}
    if provider.from_addr:
        smtp["from"] = provider.from_addr
    for key in ("host", "from"):
        if not smtp.get(key):
            why = "the SMTP server to send through" if key == "host" else "the sender (or set spec.from)"
            raise _missing(where, key, why)
    try:
        SMTPConfig.from_secret_data(smtp)
    except ConfigError as exc:
        raise ProviderSecretError(REASON_SECRET_INVALID, f"{where}: {exc}") from None
    return smtp


def _ca_bundle(provider: NotificationProvider, secrets: Mapping[str, Mapping[str, Any]]) -> str:
    where = f"Secret {provider.namespace}/{provider.cert_secret_name}"
    pem = _values(secrets[provider.cert_secret_name]).get(KEY_CA, "")
    if not pem.strip():
        raise _missing(where, KEY_CA, "certSecretRef names the Secret holding the CA bundle (PEM) in this key")
    try:
        ssl.create_default_context().load_verify_locations(cadata=pem)
    except (ssl.SSLError, ValueError):
        raise _invalid(where, KEY_CA, "is not a PEM CA certificate bundle") from None
    return pem
