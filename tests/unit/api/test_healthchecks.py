"""`spec.healthChecks` of a Terraform (api/healthchecks.py): what the typed view accepts, every kind of bad
input refused naming the field and the fix, and template rendering from outputs — values of several types,
map paths, missing outputs and keys, and sensitive outputs masked in what is shown; the deny list of
probe addresses (`denied_network`, `parse_deny_cidrs`: review of issue 20, finding 3) on every kind of
address — each default range, IPv6 forms, IPv4-mapped and -compatible ones, zones — and the flag's text."""

from __future__ import annotations

from typing import Any

import pytest

from tfcontroller.api.errors import SpecError
from tfcontroller.api.healthchecks import (
    DEFAULT_DENY,
    DEFAULT_DENY_CIDRS,
    DEFAULT_TIMEOUT,
    SENSITIVE_MASK,
    TemplateError,
    denied_network,
    host_networks,
    http_target_problem,
    parse_deny_cidrs,
    render,
    tcp_target,
    template_paths,
)
from tfcontroller.api.terraform import Terraform


def tf(checks: Any) -> Terraform:
    return Terraform.from_dict({
        "apiVersion": "tfcontroller.io/v1alpha1", "kind": "Terraform",
        "metadata": {"name": "app", "namespace": "team"},
        "spec": {"sourceRef": {"kind": "GitRepository", "name": "src"}, "interval": "5m",
                 "healthChecks": checks}})


def test_valid_checks_parse_with_defaults() -> None:
    checks = tf([
        {"name": "db", "type": "tcp", "address": "{{ .db_host }}:{{ .db.port }}"},
        {"name": "web", "type": "http", "url": "https://{{.host}}/healthz", "expectedStatus": 204, "timeout": "30s"},
        {"name": "static", "type": "http", "url": "http://127.0.0.1:8080/"},
        {"name": "v6", "type": "tcp", "address": "[::1]:5432"},
    ]).spec.health_checks
    assert [(h.name, h.type, h.expected_status, h.timeout) for h in checks] == [
        ("db", "tcp", None, DEFAULT_TIMEOUT), ("web", "http", 204, 30.0), ("static", "http", None, DEFAULT_TIMEOUT),
        ("v6", "tcp", None, DEFAULT_TIMEOUT)]
    assert checks[0].outputs == ("db_host", "db")
    assert checks[0].field == "spec.healthChecks[0].address"
    assert tf(None).spec.health_checks == ()


@pytest.mark.parametrize(("check", "field", "words"), [
    ({"type": "tcp", "address": "a:1"}, "spec.healthChecks[0].name", "Required"),
    ({"name": "Web", "type": "tcp", "address": "a:1"}, "spec.healthChecks[0].name", "must match"),
    ({"name": "a", "type": "udp", "address": "a:1"}, "spec.healthChecks[0].type", "supported values: tcp, http"),
    ({"name": "a", "type": "tcp"}, "spec.healthChecks[0].address", "Required"),
    ({"name": "a", "type": "http"}, "spec.healthChecks[0].url", "Required"),
    ({"name": "a", "type": "tcp", "url": "http://x/"}, "spec.healthChecks[0].url", "not allowed for type tcp"),
    ({"name": "a", "type": "http", "url": "http://x/", "address": "x:1"}, "spec.healthChecks[0].address",
     "not allowed for type http"),
    ({"name": "a", "type": "tcp", "address": "a:1", "expectedStatus": 200}, "spec.healthChecks[0].expectedStatus",
     "only for type http"),
    ({"name": "a", "type": "http", "url": "http://x/", "expectedStatus": 42}, "spec.healthChecks[0].expectedStatus",
     "100-599"),
    ({"name": "a", "type": "http", "url": "http://x/", "expectedStatus": "200"},
     "spec.healthChecks[0].expectedStatus", "100-599"),
    ({"name": "a", "type": "http", "url": "http://x/", "timeout": "5m"}, "spec.healthChecks[0].timeout", "at most 60s"),
    ({"name": "a", "type": "http", "url": "http://x/", "timeout": "soon"}, "spec.healthChecks[0].timeout", "duration"),
    # literal targets are checked at once
    ({"name": "a", "type": "tcp", "address": "db.example.com"}, "spec.healthChecks[0].address", "host:port"),
    ({"name": "a", "type": "tcp", "address": "db:99999"}, "spec.healthChecks[0].address", "host:port"),
    ({"name": "a", "type": "tcp", "address": "db:5432/x"}, "spec.healthChecks[0].address", "host:port"),
    ({"name": "a", "type": "http", "url": "ftp://x/"}, "spec.healthChecks[0].url", "http:// or https://"),
    ({"name": "a", "type": "http", "url": "/healthz"}, "spec.healthChecks[0].url", "http:// or https://"),
    ({"name": "a", "type": "http", "url": "https://u:p@x/"}, "spec.healthChecks[0].url", "credentials in the URL"),
    # templates: only plain output paths
    ({"name": "a", "type": "http", "url": "http://{{ .host | upper }}/"}, "spec.healthChecks[0].url",
     "unsupported template action"),
    ({"name": "a", "type": "http", "url": "http://{{ if .x }}y{{ end }}/"}, "spec.healthChecks[0].url",
     "unsupported template action"),
    ({"name": "a", "type": "http", "url": "http://{{ host }}/"}, "spec.healthChecks[0].url",
     "unsupported template action"),
    ({"name": "a", "type": "tcp", "address": "{{- .host }}:80"}, "spec.healthChecks[0].address",
     "unsupported template action"),
    ({"name": "a", "type": "tcp", "address": "{{ .host.[0] }}:80"}, "spec.healthChecks[0].address",
     "unsupported template action"),
    ({"name": "a", "type": "tcp", "address": "{{ .host :80"}, "spec.healthChecks[0].address", "unbalanced"),
    ({"name": "a", "type": "tcp", "address": "{{ .host }}:80}}"}, "spec.healthChecks[0].address", "unbalanced"),
])
def test_bad_checks_name_the_field_and_the_fix(check: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(SpecError) as err:
        tf([check])
    assert err.value.field == field
    assert words in err.value.message


def test_duplicate_names_and_too_many_checks_are_refused() -> None:
    with pytest.raises(SpecError, match=r"spec.healthChecks\[1\]: duplicate name 'a'"):
        tf([{"name": "a", "type": "tcp", "address": "x:1"}, {"name": "a", "type": "tcp", "address": "y:1"}])
    with pytest.raises(SpecError, match="at most 20"):
        tf([{"name": f"c{i}", "type": "tcp", "address": "x:1"} for i in range(21)])
    with pytest.raises(SpecError, match="must be a list"):
        tf({"name": "a"})


STATE_OUTPUTS = {
    "host": {"value": "db.internal", "type": "string", "sensitive": False},
    "port": {"value": 5432, "type": "number", "sensitive": False},
    "tls": {"value": True, "type": "bool", "sensitive": False},
    "db": {"value": {"port": 6543, "name": "main"}, "type": ["object", {}], "sensitive": False},
    "token": {"value": "s3cr3t-t0ken-value", "type": "string", "sensitive": True},
}


@pytest.mark.parametrize(("template", "probed", "shown"), [
    ("{{ .host }}:{{ .port }}", "db.internal:5432", "db.internal:5432"),
    ("{{.host}}:{{.db.port}}", "db.internal:6543", "db.internal:6543"),
    ("https://{{ .host }}/?tls={{ .tls }}", "https://db.internal/?tls=true", "https://db.internal/?tls=true"),
    ("https://{{ .host }}/?t={{ .token }}", "https://db.internal/?t=s3cr3t-t0ken-value",
     f"https://db.internal/?t={SENSITIVE_MASK}"),
    ("http://127.0.0.1:80/", "http://127.0.0.1:80/", "http://127.0.0.1:80/"),
])
def test_render_values_of_every_type_and_mask_sensitive(template: str, probed: str, shown: str) -> None:
    got, display, secrets = render(template, STATE_OUTPUTS)
    assert (got, display) == (probed, shown)
    assert secrets == (["s3cr3t-t0ken-value"] if ".token" in template else [])


def test_render_accepts_plain_values_too() -> None:
    assert render("{{ .a }}:{{ .b }}", {"a": "x", "b": 1})[:2] == ("x:1", "x:1")


@pytest.mark.parametrize(("template", "words"), [
    ("{{ .missing }}:80", "no output 'missing' (it has: db, host, port, tls, token)"),
    ("{{ .db.nope }}", "output 'db' has no key 'nope'"),
    ("{{ .host.x }}", "output 'host' has no key 'x'"),
])
def test_render_missing_outputs_and_keys(template: str, words: str) -> None:
    with pytest.raises(TemplateError, match=words.replace("(", r"\(").replace(")", r"\)")):
        render(template, STATE_OUTPUTS)


def test_template_paths_and_tcp_targets() -> None:
    assert template_paths("{{ .a }}-{{ .b.c }}") == [".a", ".b.c"]
    assert template_paths("plain") == []
    assert tcp_target("127.0.0.1:80") == ("127.0.0.1", 80)
    assert tcp_target("[::1]:443") == ("::1", 443)
    for bad in ("nohost", ":80", "h:0", "h:x", "user@h:22", "h:1?x"):
        with pytest.raises(ValueError):
            tcp_target(bad)


# ---- review of issue 20, finding 1: no user-given text makes the parse raise anything but SpecError ---------

BAD_URLS = [
    "http://[::1/",  # unbalanced bracket: urlsplit's ValueError
    "http://[zz]/",  # a bracketed host that is no IPv6 address
    "https://[::1]x/",
    "http://a:99999/",  # port out of range
    "http://a:port/",
    "http://ex..ample.com/",  # an empty label: UnicodeError in the socket layer
    "http://.example.com/",
    f"http://{'a' * 64}.com/",  # a label of 64 characters
    "http://exa mple.com/",  # whitespace
    "http://example.com/\nHost: evil",  # a control character
    "http://example.com/p\u00e9",  # non-ASCII path: http.client cannot send it
    "http://[::1/@x",
    "http://user@[/",
    "ftp://example.com/",
    "//example.com/",
    "http:///path",
    "\x00",
]

BAD_ADDRESSES = [
    "[::1:80",  # unbalanced bracket
    "[zz]:80",
    "[::1]x:80",
    "ex..ample.com:80",  # an empty label
    f"{'b' * 64}.example.com:80",
    ".example.com:80",
    "db.example.com:99999",
    "db.example.com:0",
    "db.example.com:port",
    "db example.com:80",
    "db.example.com:80\n",
    "db.example.com",
    "user@db.example.com:80",
    "db.example.com:80/path",
    ":80",
    "\x7f:80",
]


@pytest.mark.parametrize("url", BAD_URLS)
def test_a_bad_literal_url_is_a_spec_error_naming_the_field(url: str) -> None:
    with pytest.raises(SpecError, match=r"spec\.healthChecks\[0\]\.url") as err:
        tf([{"name": "web", "type": "http", "url": url}])
    assert "https://example.com/healthz" in str(err.value)  # the fix is named


@pytest.mark.parametrize("address", BAD_ADDRESSES)
def test_a_bad_literal_address_is_a_spec_error_naming_the_field(address: str) -> None:
    with pytest.raises(SpecError, match=r"spec\.healthChecks\[0\]\.address") as err:
        tf([{"name": "db", "type": "tcp", "address": address}])
    assert "host:port" in str(err.value)


@pytest.mark.parametrize("address", BAD_ADDRESSES)
def test_tcp_target_raises_only_value_error(address: str) -> None:
    with pytest.raises(ValueError):
        tcp_target(address)


@pytest.mark.parametrize("url", BAD_URLS)
def test_http_target_problem_never_raises(url: str) -> None:
    assert http_target_problem(url)


@pytest.mark.parametrize("url", ["http://example.com/", "https://\u00e9x.example/healthz", "http://[::1]:8080/x?q=1",
                                 "http://example.com./", "http://127.0.0.1/"])
def test_good_urls_still_pass(url: str) -> None:
    assert http_target_problem(url) == ""


@pytest.mark.parametrize(("address", "want"), [("example.com.:80", ("example.com.", 80)), ("[::1]:5432", ("::1", 5432)),
                                               ("\u00e9x.example:443", ("\u00e9x.example", 443))])
def test_good_addresses_still_pass(address: str, want: tuple[str, int]) -> None:
    assert tcp_target(address) == want


# ---- review of issue 20, finding 3: which addresses a probe may not reach ----------------------------------

@pytest.mark.parametrize(("address", "network"), [
    ("127.0.0.1", "127.0.0.0/8"), ("127.255.255.254", "127.0.0.0/8"), ("::1", "::1/128"),
    ("0:0:0:0:0:0:0:1", "::1/128"),
    ("169.254.169.254", "169.254.0.0/16"), ("169.254.0.1", "169.254.0.0/16"), ("169.254.255.255", "169.254.0.0/16"),
    ("fe80::1", "fe80::/10"), ("fe80::1%eth0", "fe80::/10"), ("febf:ffff::1", "fe80::/10"),
    ("fd00:ec2::254", "fd00:ec2::254/128"),
    ("0.0.0.0", "0.0.0.0/8"), ("0.1.2.3", "0.0.0.0/8"), ("::", "::/128"),
    # IPv4-mapped and IPv4-compatible forms of each IPv4 range
    ("::ffff:127.0.0.1", "127.0.0.0/8"), ("::ffff:7f00:1", "127.0.0.0/8"), ("0:0:0:0:0:ffff:a9fe:a9fe", "169.254.0.0/16"),
    ("::ffff:169.254.169.254", "169.254.0.0/16"), ("::ffff:0.0.0.0", "0.0.0.0/8"), ("::127.0.0.1", "127.0.0.0/8"),
    ("::169.254.169.254", "169.254.0.0/16"),
])
def test_default_deny_list_covers_each_range_and_its_other_forms(address: str, network: str) -> None:
    assert str(denied_network(address, DEFAULT_DENY)) == network


@pytest.mark.parametrize("address", [
    "10.0.0.5", "10.96.0.1", "172.16.0.1", "192.168.1.1", "100.64.0.1", "8.8.8.8", "1.0.0.0", "128.0.0.1",
    "126.255.255.255", "169.253.255.255", "169.255.0.0", "2001:db8::1", "2600:1f18::1", "fd00::1",
    "fd00:ec2::253", "fd00:ec2::255", "fec0::1", "fe7f::1", "::ffff:10.0.0.1", "::ffff:8.8.8.8", "::10.0.0.1",
])
def test_pod_network_and_public_addresses_are_allowed(address: str) -> None:
    assert denied_network(address, DEFAULT_DENY) is None


def test_a_deny_list_of_the_callers_choosing_is_applied_as_given() -> None:
    allow_loopback = parse_deny_cidrs("169.254.0.0/16, fe80::/10")
    assert denied_network("127.0.0.1", allow_loopback) is None and denied_network("::ffff:127.0.0.1", allow_loopback) \
        is None
    assert str(denied_network("::ffff:169.254.169.254", allow_loopback)) == "169.254.0.0/16"
    pod_network = parse_deny_cidrs("10.0.0.0/8")  # an IPv4 range applies to mapped forms too
    assert str(denied_network("::ffff:10.1.2.3", pod_network)) == "10.0.0.0/8"
    assert all(denied_network(a, ()) is None for a in ("127.0.0.1", "169.254.169.254", "::1", "::"))


@pytest.mark.parametrize(("address", "denied"), [
    ("127.0.0.1", False), ("127.200.0.1", False), ("::1", False), ("::ffff:127.0.0.1", False),  # the exception
    ("10.1.2.3", False), ("::ffff:10.1.255.255", False),  # an exception inside an operator's deny entry
    ("10.2.0.1", True), ("169.254.169.254", True), ("::ffff:169.254.169.254", True), ("fd00:ec2::254", True),
    ("0.0.0.0", True), ("fe80::1%eth0", True),
])
def test_allow_carves_exceptions_out_of_every_deny_entry_and_nothing_else(address: str, denied: bool) -> None:
    deny = DEFAULT_DENY + parse_deny_cidrs("10.0.0.0/8")
    allow = parse_deny_cidrs("127.0.0.0/8,::1,10.1.0.0/16")
    assert (denied_network(address, deny, allow) is not None) is denied
    assert denied_network(address, deny) is not None  # without the exceptions, all are denied


def test_host_networks_keeps_the_addresses_once_and_skips_the_rest() -> None:
    nets = host_networks(["10.244.1.7", " 10.244.1.7", "", "fd00::7", "fe80::1%eth0", "node-1", "10.0.0.0/8"])
    assert [str(n) for n in nets] == ["10.244.1.7/32", "fd00::7/128", "fe80::1/128"]


@pytest.mark.parametrize(("text", "want"), [
    ("", []), (" , ,", []), ("10.0.0.0/8", ["10.0.0.0/8"]), ("10.0.0.0/8, 192.168.0.0/16", ["10.0.0.0/8", "192.168.0.0/16"]),
    ("10.0.0.1", ["10.0.0.1/32"]), ("fe80::/10,fd00:ec2::254", ["fe80::/10", "fd00:ec2::254/128"]),
    (",".join(DEFAULT_DENY_CIDRS), [str(n) for n in DEFAULT_DENY]),
])
def test_parse_deny_cidrs(text: str, want: list[str]) -> None:
    assert [str(n) for n in parse_deny_cidrs(text)] == want


@pytest.mark.parametrize(("text", "words"), [
    ("10.1.0.0/8", "'10.1.0.0/8' is not a CIDR"),  # host bits set: which network was meant is not guessed
    ("10.0.0.0/33", "'10.0.0.0/33' is not a CIDR"),
    ("nope", "'nope' is not a CIDR"),
    ("10.0.0.0/8;192.168.0.0/16", "is not a CIDR"),
    ("localhost", "'localhost' is not a CIDR"),
])
def test_parse_deny_cidrs_refuses_what_is_no_cidr(text: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        parse_deny_cidrs(text)
    assert "e.g. 169.254.0.0/16" in _error(text)


def _error(text: str) -> str:
    try:
        parse_deny_cidrs(text)
    except ValueError as exc:
        return str(exc)
    return ""
