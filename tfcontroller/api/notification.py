"""Typed views of the two notification kinds (issue 19): `NotificationProvider` (where to send) and
`NotificationRule` (what to send there), in Flux's Provider/Alert shape (docs/notifications.md).

`from_dict` raises `SpecError` naming the field and saying what to fix for everything the CRD schema
cannot (or a server without the schema did not) refuse: a field that has no meaning for the provider's type
(`to` on slack, `address` on smtp — silently ignoring it would leave the user guessing why nothing
arrives), an http provider with no address source, a mail provider without recipients, a malformed e-mail
address, URL, duration, glob or rate limit, an unknown event type or severity. Such a spec can never work,
so the controllers stall on it (no retry loop) until the spec changes.

`rejection_current` is the one rule for `status.rejected` (a permanent 4xx answer recorded by the rule
controller): it holds only while neither the spec (generation) nor any referenced Secret (resourceVersion)
changed since, so a fix — a new spec or a rotated Secret — clears it without a manual step.

Nothing here imports the notify package (layers: api imports nothing of ours but api); `EVENT_TYPES` and
`SEVERITIES` equal `notify.event`'s (a unit test ties them).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from tfcontroller.api.constants import (
    MANIFESTSET_KIND,
    NOTIFICATIONPROVIDER_KIND,
    NOTIFICATIONRULE_KIND,
    TERRAFORM_KIND,
)
from tfcontroller.api.errors import SpecError
from tfcontroller.api.fields import DNS_LABEL, Fields, join
from tfcontroller.api.meta import ObjectMeta
from tfcontroller.api.terraform import EMAIL

PROVIDER_TYPES: tuple[str, ...] = ("smtp", "ses", "slack", "msteams", "discord", "webhook", "flux")
HTTP_PROVIDER_TYPES: tuple[str, ...] = ("slack", "msteams", "discord", "webhook", "flux")
MAIL_PROVIDER_TYPES: tuple[str, ...] = ("smtp", "ses")

EVENT_TYPES: tuple[str, ...] = (
    "PlanPending", "PlanApplied", "ApplyFailed", "DriftDetected", "DriftResolved", "PolicyDenied", "Stalled",
    "ManifestSetFailed", "ManifestSetRecovered",
)
SEVERITY_INFO = "info"
SEVERITY_ERROR = "error"
SEVERITIES: tuple[str, ...] = (SEVERITY_INFO, SEVERITY_ERROR)
SOURCE_KINDS: tuple[str, ...] = (TERRAFORM_KIND, MANIFESTSET_KIND)

DEFAULT_TIMEOUT = 15.0
MAX_TIMEOUT = 300.0  # one attempt holds a delivery worker: longer is a mistake, not a need
DEFAULT_RATE_MESSAGES = 20
DEFAULT_RATE_PER = 60.0

# Secret keys (contract: the `--smtp-secret` keys for smtp)
KEY_ADDRESS = "address"
KEY_TOKEN = "token"  # noqa: S105 - a key name, not a secret
KEY_PROXY = "proxy"
KEY_CA = "ca.crt"
SMTP_KEYS: tuple[str, ...] = ("host", "port", "username", "password", "from", "tls")

# Ready reasons
REASON_PROVIDER_READY = "ProviderReady"
REASON_DELIVERY_REJECTED = "DeliveryRejected"
REASON_SECRET_NOT_FOUND = "SecretNotFound"
REASON_SECRET_INVALID = "SecretInvalid"
REASON_PROVIDER_NOT_READY = "ProviderNotReady"
REASON_RULE_READY = "RuleReady"
REASON_SUSPENDED = "Suspended"

_URL_SCHEMES = ("http", "https")
# A name glob: the characters of an object name plus fnmatch's `*`, `?`, `[`, `]`, `!`.
_GLOB = re.compile(r"^[a-z0-9.*?\[\]!-]+$")


@dataclass(frozen=True)
class RateLimit:
    """A token bucket: at most `messages` per `per` seconds (burst `messages`)."""

    messages: int = DEFAULT_RATE_MESSAGES
    per: float = DEFAULT_RATE_PER


@dataclass(frozen=True)
class NotificationProvider:
    namespace: str
    name: str
    uid: str
    generation: int
    type: str
    address: str = field(default="", repr=False)  # a chat service's URL carries its token
    secret_name: str = ""
    proxy: str = field(default="", repr=False)
    cert_secret_name: str = ""
    to: tuple[str, ...] = ()
    from_addr: str = ""
    timeout: float = DEFAULT_TIMEOUT
    rate_limit: RateLimit = RateLimit()
    suspend: bool = False

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def is_mail(self) -> bool:
        return self.type in MAIL_PROVIDER_TYPES

    @property
    def secret_names(self) -> tuple[str, ...]:
        """The Secrets this provider reads (same namespace), without duplicates, in a fixed order."""
        return tuple(dict.fromkeys(n for n in (self.secret_name, self.cert_secret_name) if n))

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any]) -> NotificationProvider:
        """The provider of an object; SpecError names the field at fault and what to fix."""
        _check_kind(obj, NOTIFICATIONPROVIDER_KIND)
        meta = ObjectMeta.from_dict(obj)
        f = Fields.at(obj.get("spec"), "spec")
        ptype = f.req_str("type", enum=PROVIDER_TYPES)
        _check_type_fields(f, ptype)
        return cls(
            namespace=meta.namespace, name=meta.name, uid=meta.uid, generation=meta.generation, type=ptype,
            address=_url(f, "address"),
            secret_name=_ref_name(f, "secretRef"),
            proxy=_url(f, "proxy"),
            cert_secret_name=_ref_name(f, "certSecretRef"),
            to=_emails(f, "to"),
            from_addr=_email(f, "from"),
            timeout=_timeout(f),
            rate_limit=_rate_limit(f),
            suspend=f.bool("suspend"),
        )


def _check_kind(obj: Mapping[str, Any], kind: str) -> None:
    if obj.get("kind", kind) != kind:
        raise SpecError("kind", f"expected {kind}, got {obj.get('kind')!r}")


def _check_type_fields(f: Fields, ptype: str) -> None:
    """Fields that mean nothing for this type are refused, so a misplaced one is not silently ignored."""
    if ptype in HTTP_PROVIDER_TYPES:
        for key in ("to", "from"):
            if f.has(key):
                raise SpecError(f.field(key), f"only for the e-mail types ({', '.join(MAIL_PROVIDER_TYPES)}); "
                                              f"a {ptype} provider posts to its address: remove {key}")
        if not f.has("address") and not f.has("secretRef"):
            raise SpecError(f.field("address"), f"Required value: a {ptype} provider needs an address: set "
                                                "spec.address, or spec.secretRef naming a Secret with key "
                                                f"{KEY_ADDRESS!r}")
        return
    unused = ("address", "proxy", "certSecretRef") + (("secretRef",) if ptype == "ses" else ())
    for key in unused:
        if f.has(key):
            why = ("ses sends through the controller's --ses-* settings and AWS credentials" if ptype == "ses"
                   else "smtp sends through the server in spec.secretRef (or the controller's --smtp-* flags)")
            raise SpecError(f.field(key), f"not used by a {ptype} provider ({why}): remove {key}")
    if not f.list("to"):
        raise SpecError(f.field("to"), f"Required value: a {ptype} provider needs at least one recipient")


def check_url(value: str, path: str) -> str:
    """An http(s) URL with a host; the message names the scheme, never the URL (it may hold a token)."""
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        raise SpecError(path, "is not a valid URL: use http(s)://host[:port]/path") from None
    if parts.scheme not in _URL_SCHEMES:
        shown = f"scheme {parts.scheme!r}" if parts.scheme else "no scheme"
        raise SpecError(path, f"must be an http or https URL, not one with {shown}")
    if not host:
        raise SpecError(path, "must name a host: use http(s)://host[:port]/path")
    return value


def _url(f: Fields, key: str) -> str:
    value = f.str(key, default="", non_empty=True) or ""
    return check_url(value, f.field(key)) if value else ""


def _ref_name(f: Fields, key: str) -> str:
    ref = f.obj(key)
    if ref is None:
        return ""
    return ref.name("name") or ""


def _email(f: Fields, key: str) -> str:
    value = f.str(key, default="") or ""
    if value and not EMAIL.match(value):
        raise SpecError(f.field(key), f"invalid e-mail address {value!r}: use name@domain")
    return value


def _emails(f: Fields, key: str) -> tuple[str, ...]:
    values = f.strings(key)
    for i, addr in enumerate(values):
        if not EMAIL.match(addr):
            raise SpecError(join(f.field(key), i), f"invalid e-mail address {addr!r}: use name@domain")
    return tuple(values)


def _timeout(f: Fields) -> float:
    seconds = f.duration("timeout", default=DEFAULT_TIMEOUT) or DEFAULT_TIMEOUT
    if seconds > MAX_TIMEOUT:
        raise SpecError(f.field("timeout"), f"must be at most {MAX_TIMEOUT:.0f}s (5m)")
    return seconds


def _rate_limit(f: Fields) -> RateLimit:
    rl = f.obj("rateLimit")
    if rl is None:
        return RateLimit()
    messages = rl.data.get("messages", DEFAULT_RATE_MESSAGES)
    if isinstance(messages, bool) or not isinstance(messages, int) or messages < 1:
        raise SpecError(rl.field("messages"), f"must be a whole number of at least 1, not {messages!r}")
    per = rl.duration("per", default=DEFAULT_RATE_PER) or DEFAULT_RATE_PER
    return RateLimit(messages, per)


@dataclass(frozen=True)
class Selector:
    """Which objects a rule watches: their kind, namespace, name (fnmatch globs) and labels (all must hold)."""

    kinds: tuple[str, ...] = SOURCE_KINDS
    names: tuple[str, ...] = ("*",)
    match_labels: dict[str, str] = field(default_factory=dict)
    namespaces: tuple[str, ...] = ()

    def matches(self, obj: Mapping[str, Any]) -> bool:
        meta = obj.get("metadata") or {}
        labels = meta.get("labels") or {}
        name = str(meta.get("name") or "")
        return (obj.get("kind") in self.kinds
                and str(meta.get("namespace") or "default") in self.namespaces
                and any(fnmatch.fnmatchcase(name, glob) for glob in self.names)
                and all(labels.get(k) == v for k, v in self.match_labels.items()))


EventSource = Selector  # Flux's word for it


@dataclass(frozen=True)
class NotificationRule:
    namespace: str
    name: str
    uid: str
    generation: int
    provider_names: tuple[str, ...]
    event_types: tuple[str, ...] = EVENT_TYPES
    severity: str = SEVERITY_INFO
    selector: Selector = field(default_factory=Selector)
    suspend: bool = False

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def wants(self, event_type: str, severity: str) -> bool:
        """Whether an event of this type and severity goes to this rule's providers: `info` takes every
        severity, `error` only errors (Flux's eventSeverity)."""
        return event_type in self.event_types and (self.severity == SEVERITY_INFO or severity == SEVERITY_ERROR)

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any]) -> NotificationRule:
        """The rule of an object; SpecError names the field at fault and what to fix."""
        _check_kind(obj, NOTIFICATIONRULE_KIND)
        meta = ObjectMeta.from_dict(obj)
        f = Fields.at(obj.get("spec"), "spec")
        return cls(
            namespace=meta.namespace, name=meta.name, uid=meta.uid, generation=meta.generation,
            provider_names=_provider_names(f),
            event_types=_enum_list(f, "eventTypes", EVENT_TYPES) or EVENT_TYPES,
            severity=f.str("severity", default=SEVERITY_INFO, enum=SEVERITIES) or SEVERITY_INFO,
            selector=_selector(f, meta.namespace),
            suspend=f.bool("suspend"),
        )


def _provider_names(f: Fields) -> tuple[str, ...]:
    refs = f.objects("providerRefs")
    if not refs:
        raise SpecError(f.field("providerRefs"), "Required value: name at least one NotificationProvider "
                                                 "of this namespace ([{name: my-provider}])")
    names = [ref.name("name") or "" for ref in refs]
    for i, n in enumerate(names):
        if n in names[:i]:
            raise SpecError(join(f.field("providerRefs"), i), f"duplicate provider {n!r}")
    return tuple(names)


def _enum_list(f: Fields, key: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    values = f.strings(key)
    for i, v in enumerate(values):
        if v not in allowed:
            raise SpecError(join(f.field(key), i), f"unsupported value {v!r}: supported values: {', '.join(allowed)}")
    if f.has(key) and not values:
        raise SpecError(f.field(key), f"must not be empty: omit it for every type, or list some of: "
                                      f"{', '.join(allowed)}")
    return tuple(dict.fromkeys(values))


def _selector(f: Fields, own_namespace: str) -> Selector:
    s = f.obj("selector") or Fields({}, f.field("selector"))
    names = tuple(s.strings("names")) or ("*",)
    for i, glob in enumerate(names):
        check_glob(glob, join(s.field("names"), i))
    labels = s.data.get("matchLabels") or {}
    if not isinstance(labels, Mapping) or not all(isinstance(v, str) for v in labels.values()):
        raise SpecError(s.field("matchLabels"), "must be a map of label names to string values")
    namespaces = tuple(s.strings("namespaces")) or (own_namespace,)
    for i, ns in enumerate(namespaces):
        if not DNS_LABEL.match(ns) or len(ns) > 63:
            raise SpecError(join(s.field("namespaces"), i), f"invalid namespace name {ns!r}")
    return Selector(kinds=_enum_list(s, "kinds", SOURCE_KINDS) or SOURCE_KINDS, names=names,
                    match_labels=dict(labels), namespaces=tuple(dict.fromkeys(namespaces)))


def check_glob(glob: str, path: str) -> None:
    """A name glob can match a Kubernetes object name: name characters and `* ? [...] [!...]`, brackets
    closed and not empty (fnmatch would take an unclosed `[` literally, which matches no name)."""
    if not _GLOB.match(glob):
        raise SpecError(path, f"invalid name glob {glob!r}: use lower-case name characters (a-z, 0-9, '-', '.') "
                              "and the wildcards *, ?, [abc], [!abc]")
    depth_open = None
    for i, ch in enumerate(glob):
        if ch == "[":
            if depth_open is not None:
                raise SpecError(path, f"invalid name glob {glob!r}: '[' inside a [...] class")
            depth_open = i
        elif ch == "]":
            if depth_open is None:
                raise SpecError(path, f"invalid name glob {glob!r}: ']' without a '['")
            if glob[depth_open + 1:i] in ("", "!"):
                raise SpecError(path, f"invalid name glob {glob!r}: empty [] class")
            depth_open = None
        elif ch == "!" and (depth_open is None or i != depth_open + 1):
            raise SpecError(path, f"invalid name glob {glob!r}: '!' only right after '[' (a negated class)")
    if depth_open is not None:
        raise SpecError(path, f"invalid name glob {glob!r}: '[' is never closed with ']'")


@dataclass(frozen=True)
class Rejection:
    """`status.rejected` of a provider: the last permanent answer and what the provider was then."""

    http_status: int
    message: str
    at: str
    generation: int
    secret_versions: dict[str, str]

    @classmethod
    def of(cls, status: Mapping[str, Any] | None) -> Rejection | None:
        raw = (status or {}).get("rejected")
        if not isinstance(raw, Mapping):
            return None
        versions = raw.get("secretVersions") or {}
        return cls(http_status=int(raw.get("httpStatus") or 0), message=str(raw.get("message") or ""),
                   at=str(raw.get("at") or ""), generation=int(raw.get("generation") or 0),
                   secret_versions={str(k): str(v) for k, v in versions.items()} if isinstance(versions, Mapping)
                   else {})

    def to_status(self) -> dict[str, Any]:
        return {"httpStatus": self.http_status, "message": self.message, "at": self.at,
                "generation": self.generation, "secretVersions": dict(self.secret_versions)}


def rejection_current(rejection: Rejection | None, generation: int, secret_versions: Mapping[str, str]) -> bool:
    """Whether a recorded rejection still describes the provider: same spec generation and the same
    resourceVersion of every referenced Secret (a Secret added, removed or rotated is a change)."""
    return (rejection is not None and rejection.generation == generation
            and rejection.secret_versions == dict(secret_versions))
