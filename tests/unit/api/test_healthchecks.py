"""`spec.healthChecks` of a Terraform (api/healthchecks.py): what the typed view accepts, every kind of bad
input refused naming the field and the fix, and template rendering from outputs — values of several types,
map paths, missing outputs and keys, and sensitive outputs masked in what is shown."""

from __future__ import annotations

from typing import Any

import pytest

from tfcontroller.api.errors import SpecError
from tfcontroller.api.healthchecks import (
    DEFAULT_TIMEOUT,
    SENSITIVE_MASK,
    TemplateError,
    http_target_problem,
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
