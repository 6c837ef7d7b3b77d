"""A team's CLI configuration fragment (terraform/cli_config.py, issue 20): HCL and JSON fragments give the
same settings; credentials, helpers and host blocks are merged into ours; every setting of ours (provider
installation, plugin cache, the legacy providers map) and any unknown setting are refused naming it; a
fragment that does not parse is refused without quoting it (it holds tokens)."""

from __future__ import annotations

from typing import Any

import pytest

from tfcontroller.api.errors import StallingError
from tfcontroller.terraform.cli_config import (
    CLI_CONFIG_INVALID,
    merge_cli_config,
    parse_fragment,
    secret_strings,
)
from tfcontroller.terraform.config import TerraformConfig

OURS = TerraformConfig("terraform", plugin_mirror_dir=None).cli_config()
HCL = """
credentials "registry.example.test" {
  token = "tok-hcl-1"
}
credentials "app.terraform.io" { token = "tok-hcl-2" }
disable_checkpoint = true
host "example.test" {
  services = {
    "modules.v1" = "https://example.test/modules/"
  }
}
"""
JSON = """{"credentials": {"registry.example.test": {"token": "tok-hcl-1"},
                            "app.terraform.io": {"token": "tok-hcl-2"}},
           "disable_checkpoint": true,
           "host": {"example.test": {"services": {"modules.v1": "https://example.test/modules/"}}}}"""


def test_hcl_and_json_fragments_are_the_same_settings() -> None:
    assert parse_fragment(HCL, "here") == parse_fragment(JSON, "here")
    merged = merge_cli_config(OURS, parse_fragment(HCL, "here"), "here")
    assert merged["credentials"] == {"registry.example.test": {"token": "tok-hcl-1"},
                                     "app.terraform.io": {"token": "tok-hcl-2"}}
    assert merged["provider_installation"] == OURS["provider_installation"]
    assert merged["disable_checkpoint"] is True


def test_credentials_helper_is_allowed() -> None:
    fragment = parse_fragment('credentials_helper "vault" {\n  args = ["--path", "x"]\n}\n', "here")
    assert merge_cli_config(OURS, fragment, "here")["credentials_helper"] == {"vault": {"args": ["--path", "x"]}}


@pytest.mark.parametrize(("fragment", "says"), [
    ('provider_installation {\n  direct {}\n}\n', "sets provider_installation"),
    ('provider_installation {\n  network_mirror {\n    url = "https://m.example/"\n  }\n}\n', "sets provider_installation"),
    ('plugin_cache_dir = "/tmp/elsewhere"\n', "sets plugin_cache_dir"),
    ('plugin_cache_may_break_dependency_lock_file = false\n', "sets plugin_cache_may_break_dependency_lock_file"),
    ('{"providers": {"aws": "/tmp/terraform-provider-aws"}}', "sets providers"),
    ('credential "registry.example.test" { token = "x" }\n', "unknown setting 'credential'"),
    ('{"credentials": "registry.example.test"}', "credentials must be blocks"),
])
def test_settings_of_ours_and_unknown_ones_are_refused(fragment: str, says: str) -> None:
    with pytest.raises(StallingError) as refused:
        merge_cli_config(OURS, parse_fragment(fragment, "spec.cliConfigSecretRef"), "spec.cliConfigSecretRef")
    assert refused.value.reason == CLI_CONFIG_INVALID
    assert str(refused.value.message).startswith("spec.cliConfigSecretRef: ") and says in refused.value.message


@pytest.mark.parametrize("text", ['credentials "x" { token = "leak-me-1"', '{"credentials": {"x": "leak-me-1"',
                                  '["leak-me-1"]'])
def test_unparsable_fragments_are_refused_without_quoting_them(text: str) -> None:
    with pytest.raises(StallingError) as refused:
        parse_fragment(text, "spec.cliConfigSecretRef")
    assert refused.value.reason == CLI_CONFIG_INVALID and "leak-me-1" not in refused.value.message


def test_secret_strings_are_every_string_inside() -> None:
    fragment: dict[str, Any] = parse_fragment(HCL, "here")
    assert sorted(secret_strings(fragment["credentials"])) == ["tok-hcl-1", "tok-hcl-2"]
