"""`spec.healthChecks[]` of a Terraform (issue 20): the typed view and the output templates, pure.

A check is `tcp` (an `address` host:port) or `http` (a `url`, an `expectedStatus`, a `timeout`); its
address or URL may name the module's outputs as Go templates do, `{{ .bucket_endpoint }}` (a path into a
map output: `{{ .db.port }}`). Only that form is accepted — no pipelines, functions or conditionals — so
that a template is checked when the spec is read (SpecError naming the field) instead of failing on
every interval. Rendering is pure: it returns the text to probe and, separately, the text to show in a
condition, in which every value of a sensitive output is replaced (design.md §4.7).

The shape follows tofu-controller's `healthChecks` (name, type, address | url, timeout) so that stacks
moving over keep their checks; `expectedStatus` is ours (tofu-controller accepts any 2xx).

A probe is made from the controller's network position, for whoever may create a Terraform, so the
addresses it may reach are limited (review of issue 20, finding 3): `denied_network` is the rule, applied
by the probes to every address a target *resolves* to (so `localhost`, `127.1`, `2130706433` or a name whose
record points at the metadata service are caught as well as the literal), and `parse_deny_cidrs` reads the
controller's `--health-check-deny-cidrs` (networks denied *in addition to* the defaults and the controller's
own addresses) and `--health-check-allow-cidrs` (exceptions carved out of all of them, review s19 finding 3). An IPv6 address that embeds an IPv4 one (`::ffff:a.b.c.d`, the
deprecated `::a.b.c.d`) is checked as that IPv4 address too, since the kernel connects it there.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from tfcontroller.api.errors import SpecError
from tfcontroller.api.fields import DNS_LABEL, Fields, unique_names

TCP, HTTP = "tcp", "http"
DEFAULT_TIMEOUT = 10.0
MAX_TIMEOUT = 60.0  # a check holds a worker while it waits: a minute at most
MAX_CHECKS = 20
SENSITIVE_MASK = "(sensitive)"

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
DENY_CIDRS_FLAG = "--health-check-deny-cidrs"
ALLOW_CIDRS_FLAG = "--health-check-allow-cidrs"
# What a health check may never reach unless `--health-check-allow-cidrs` makes an exception: loopback (the
# controller's listeners as seen from inside its own network namespace), link-local (the cloud metadata services live there:
# 169.254.169.254, fe80::/10; AWS's IPv6 one is fd00:ec2::254) and the unspecified addresses (0.0.0.0 and
# :: connect to the local host on Linux; 0.0.0.0/8 is "this network")
DEFAULT_DENY_CIDRS = ("127.0.0.0/8", "::1/128", "169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128",
                      "0.0.0.0/8", "::/128")

# `{{ .name }}` or `{{ .name.key }}`, whitespace optional: the only action a template may hold (Go's trim
# markers `{{-` / `-}}` are refused rather than half-supported)
_ACTION = re.compile(r"\{\{\s*(?P<path>\.[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*)\s*\}\}")
_ANY_ACTION = re.compile(r"\{\{.*?\}\}", re.S)


@dataclass(frozen=True)
class HealthCheck:
    """One check; `target` is the address (tcp) or URL (http) template."""

    name: str
    type: str
    target: str
    expected_status: int | None = None  # http only; None: any 2xx
    timeout: float = DEFAULT_TIMEOUT
    field: str = ""  # the spec path of the target (`spec.healthChecks[0].url`), for messages

    @property
    def outputs(self) -> tuple[str, ...]:
        """The output names the target refers to, in order of first use."""
        return tuple(dict.fromkeys(p.split(".")[1] for p in template_paths(self.target)))


class TemplateError(ValueError):
    """A template that cannot be rendered with these outputs (a missing output or map key)."""


def template_paths(template: str) -> list[str]:
    """The `.a.b` paths of a template's actions; ValueError naming the first action that is not one."""
    for action in _ANY_ACTION.finditer(template):
        if not _ACTION.fullmatch(action.group(0)):
            raise ValueError(f"unsupported template action {action.group(0)!r}: only {{{{ .output_name }}}} "
                             "(or {{ .output_name.key }} into a map output) is supported")
    rest = _ANY_ACTION.sub("", template)
    if "{{" in rest or "}}" in rest:
        raise ValueError("unbalanced '{{' or '}}'")
    return [m.group("path") for m in _ACTION.finditer(template)]


def _text(value: Any) -> str:
    """An output value as template text: strings as they are, anything else as compact JSON (so a
    number renders `8080`, a bool `true`)."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(",", ":"))


def _lookup(path: str, outputs: Mapping[str, Any]) -> tuple[Any, bool]:
    """The value at `.name.key…` and whether its output is sensitive; TemplateError when absent."""
    name, *keys = path[1:].split(".")
    entry = outputs.get(name)
    if entry is None:
        have = ", ".join(sorted(outputs)) or "none"
        raise TemplateError(f"the module has no output {name!r} (it has: {have})")
    value, sensitive = (entry.get("value"), entry.get("sensitive") is True) if isinstance(entry, Mapping) \
        else (entry, False)
    for key in keys:
        if not isinstance(value, Mapping) or key not in value:
            raise TemplateError(f"output {name!r} has no key {key!r}")
        value = value[key]
    return value, sensitive


def render(template: str, outputs: Mapping[str, Any]) -> tuple[str, str, list[str]]:
    """(text to probe, text to show, the sensitive values used) of `template` with `outputs` in the
    state's shape `{name: {"value", "sensitive"}}` (a plain `{name: value}` is accepted too)."""
    template_paths(template)  # refuses anything but plain paths
    secrets: list[str] = []

    def value_of(match: re.Match[str]) -> str:
        value, sensitive = _lookup(match.group("path"), outputs)
        text = _text(value)
        if sensitive:
            secrets.append(text)
        return text

    def shown(match: re.Match[str]) -> str:
        value, sensitive = _lookup(match.group("path"), outputs)
        return SENSITIVE_MASK if sensitive else _text(value)

    return _ACTION.sub(value_of, template), _ACTION.sub(shown, template), secrets


def host_problem(host: str) -> str:
    """Why `host` (a name or an IP address, without brackets) cannot be connected to ("" when it can): a
    name needs labels of 1-63 characters that IDNA can encode (Python's socket layer raises UnicodeError,
    not OSError, on anything else)."""
    if ":" in host:  # an IPv6 address: urlsplit has checked it already
        return ""
    try:
        host.rstrip(".").encode("idna")
    except UnicodeError:
        return f"invalid host name {host!r}: each dot-separated label must be 1-63 characters"
    return ""


def _bad_brackets(netloc: str) -> bool:
    """`[v6]` followed by anything but `:port` (urlsplit ignores what follows the bracket)."""
    after = netloc.rpartition("]")[2] if "[" in netloc else ""
    return bool(after) and not after.startswith(":")


def _bad_characters(text: str) -> str:
    """What is wrong with whitespace or control characters in a target ("" when it has none)."""
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in text):
        return f"{text!r} contains whitespace or control characters"
    return ""


def tcp_target(address: str) -> tuple[str, int]:
    """(host, port) of `host:port` (`[::1]:80` for IPv6); ValueError saying what is wrong (never any
    other exception, whatever the text)."""
    if problem := _bad_characters(address):
        raise ValueError(problem)
    try:
        parts = urlsplit("//" + address)
        hostname = parts.hostname
    except ValueError as exc:  # an unbalanced `[` or a bracketed host that is no IPv6 address
        raise ValueError(f"invalid host in {address!r} ({exc})") from None
    if _bad_brackets(parts.netloc):
        raise ValueError(f"invalid host in {address!r}")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"invalid port in {address!r}") from None
    if not hostname or port is None or parts.path or parts.query or parts.fragment or "@" in address:
        raise ValueError(f"{address!r} is not host:port")
    if not 0 < port < 65536:
        raise ValueError(f"port {port} out of range 1-65535")
    if problem := host_problem(hostname):
        raise ValueError(problem)
    return hostname, port


def http_target_problem(url: str) -> str:
    """Why `url` cannot be probed ("" when it can): an absolute http(s) URL with a valid host and no
    userinfo. Never raises, whatever the text."""
    if problem := _bad_characters(url):
        return problem
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
    except ValueError as exc:  # an unbalanced `[` or a bracketed host that is no IPv6 address
        return f"invalid host in {url!r} ({exc})" if "@" not in url else f"invalid URL ({exc})"
    if parts.scheme not in ("http", "https") or not hostname:
        return f"{url!r} is not an absolute http:// or https:// URL"
    if _bad_brackets(parts.netloc):
        return f"invalid host in {url!r}"
    if "@" in parts.netloc:  # never shown: it carries a password
        return "credentials in the URL are not supported (a health check sends none)"
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return f"invalid port in {url!r}"
    if not (parts.path + parts.query + parts.fragment).isascii():
        return f"{url!r} has non-ASCII characters in its path or query: percent-encode them"
    return host_problem(hostname)


def parse_deny_cidrs(text: str) -> tuple[IPNetwork, ...]:
    """`--health-check-deny-cidrs` and `--health-check-allow-cidrs`: a comma-separated list of CIDRs or
    single addresses (empty: none);
    ValueError naming the entry that is neither, or a CIDR with host bits set (`10.1.0.0/8`: which one was
    meant is not ours to guess)."""
    nets: list[IPNetwork] = []
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        try:
            nets.append(ipaddress.ip_network(entry))
        except ValueError as exc:
            raise ValueError(f"{entry!r} is not a CIDR (e.g. 169.254.0.0/16, fe80::/10) or an IP address: {exc}") \
                from None
    return tuple(nets)


DEFAULT_DENY = parse_deny_cidrs(",".join(DEFAULT_DENY_CIDRS))


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for: mapped `::ffff:a.b.c.d`, or IPv4-compatible `::a.b.c.d`
    (deprecated, but some stacks still route it); None for any other address."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    packed = address.packed
    if packed[:12] == bytes(12) and int.from_bytes(packed[12:], "big") > 1:  # not :: or ::1
        return ipaddress.IPv4Address(packed[12:])
    return None


def denied_network(address: str | IPAddress, deny: tuple[IPNetwork, ...],
                   allow: tuple[IPNetwork, ...] = ()) -> IPNetwork | None:
    """The network of `deny` that `address` (an IP address, an IPv6 zone `%eth0` allowed) falls in, also
    through the IPv4 address an IPv6 one embeds; None when it may be probed: in no network of `deny`, or in
    one of `allow` (the operator's exceptions win over every deny entry, defaults included). ValueError for
    a text that is no IP address."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id:
        ip = ipaddress.IPv6Address(str(ip).split("%", 1)[0])
    candidates: list[IPAddress] = [ip]
    if (v4 := _embedded_ipv4(ip)) is not None:
        candidates.append(v4)
    if _matching(candidates, allow) is not None:
        return None
    return _matching(candidates, deny)


def _matching(candidates: list[IPAddress], nets: tuple[IPNetwork, ...]) -> IPNetwork | None:
    for net in nets:
        if any(candidate.version == net.version and candidate in net for candidate in candidates):
            return net
    return None


def host_networks(addresses: list[str] | tuple[str, ...]) -> tuple[IPNetwork, ...]:
    """Single-address networks (/32, /128) of the IP addresses among `addresses`, in order, without
    duplicates; texts that are no IP address (an empty env value, a host name) are skipped."""
    nets: list[IPNetwork] = []
    for text in addresses:
        try:
            ip = ipaddress.ip_address(text.strip().split("%", 1)[0])
        except ValueError:
            continue
        net = ipaddress.ip_network(ip)
        if net not in nets:
            nets.append(net)
    return tuple(nets)


def parse_health_checks(f: Fields) -> tuple[HealthCheck, ...]:
    """`spec.healthChecks`: unique names (DNS labels), one target matching the type, templates of plain
    output paths, and a target that is well-formed wherever it is not templated."""
    items = f.objects("healthChecks")
    if len(items) > MAX_CHECKS:
        raise SpecError(f.field("healthChecks"), f"at most {MAX_CHECKS} health checks")
    out = [_health_check(item) for item in items]
    unique_names(out, f.field("healthChecks"))
    return tuple(out)


def _health_check(item: Fields) -> HealthCheck:
    name = item.req_str("name", pattern=DNS_LABEL, max_len=63)
    kind = item.req_str("type", enum=(TCP, HTTP))
    key, other = ("address", "url") if kind == TCP else ("url", "address")
    if item.has(other):
        raise SpecError(item.field(other), f"not allowed for type {kind}: set {key}")
    if kind == TCP and item.has("expectedStatus"):
        raise SpecError(item.field("expectedStatus"), "only for type http")
    target = item.req_str(key, non_empty=True)
    try:
        paths = template_paths(target)
    except ValueError as exc:
        raise SpecError(item.field(key), str(exc)) from None
    if not paths:  # nothing templated: check the literal now rather than on every interval
        _check_literal(item.field(key), kind, target)
    timeout = item.duration("timeout", default=DEFAULT_TIMEOUT) or DEFAULT_TIMEOUT
    if timeout > MAX_TIMEOUT:
        raise SpecError(item.field("timeout"), f"at most {MAX_TIMEOUT:.0f}s")
    return HealthCheck(name, kind, target, _expected_status(item), timeout, item.field(key))


def _check_literal(field: str, kind: str, target: str) -> None:
    if kind == TCP:
        try:
            tcp_target(target)
        except ValueError as exc:
            raise SpecError(field, f"{exc}: use host:port, e.g. db.example.com:5432") from None
    elif problem := http_target_problem(target):
        raise SpecError(field, f"{problem}: use e.g. https://example.com/healthz")


def _expected_status(item: Fields) -> int | None:
    value = item.data.get("expectedStatus")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 100 <= value <= 599:
        raise SpecError(item.field("expectedStatus"), f"must be an HTTP status code 100-599, not {value!r}")
    return value
