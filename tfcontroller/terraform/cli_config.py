"""A team's CLI configuration fragment (`spec.cliConfigSecretRef`) merged into the run's generated one.

Why a fragment and not the team's whole file: provider plugins come from the controller's filesystem mirror
or plugin cache (design.md §5: `init` works offline, plugins are shared as symlinks), so those settings stay
ours. A fragment may set what a private registry or module host needs — `credentials` and
`credentials_helper` blocks, `host` blocks (service discovery overrides), `disable_checkpoint*` — and
nothing else: `provider_installation`, `plugin_cache_dir`, `plugin_cache_may_break_dependency_lock_file`
and the legacy `providers` map are refused naming the setting (Stalled `CliConfigInvalid`: retrying cannot
help until the Secret changes), and so is a setting Terraform does not know (a typo would otherwise be
ignored silently and fail later as an authentication error).

The fragment is HCL (Terraform's `.tfrc` syntax) or JSON; it is parsed with python-hcl2 and written into
the run's JSON CLI configuration. Every string in it is a secret as far as logs go (tokens), so
`secret_strings` lists them for the scrubber; a parse error never quotes the text.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from tfcontroller.api.errors import StallingError

CLI_CONFIG_INVALID = "CliConfigInvalid"
ALLOWED = ("credentials", "credentials_helper", "host", "disable_checkpoint", "disable_checkpoint_signature")
OURS = ("provider_installation", "plugin_cache_dir", "plugin_cache_may_break_dependency_lock_file", "providers")
_LABELLED = ("credentials", "credentials_helper", "host")  # blocks with one label: name → body


def parse_fragment(text: str, where: str) -> dict[str, Any]:
    """The fragment as data, labelled blocks as {label: body}; StallingError when it is not HCL or JSON."""
    import hcl2.api  # here: a run without a CLI configuration never pays for the parser (issue 21)

    try:
        raw = json.loads(text) if text.lstrip().startswith("{") else hcl2.api.loads(text)
    except Exception:  # noqa: BLE001 - lark and json raise many types; the text may hold tokens: never quoted
        raise StallingError(CLI_CONFIG_INVALID, f"{where}: not a valid Terraform CLI configuration (HCL or JSON); "
                                                "check its syntax, e.g. credentials \"host\" { token = \"...\" }") from None
    if not isinstance(raw, dict):
        raise StallingError(CLI_CONFIG_INVALID, f"{where}: a CLI configuration is an object of settings")
    return {key: _labelled(value) if key in _LABELLED else value for key, value in raw.items()}


def _labelled(value: Any) -> Any:
    """hcl2 gives `credentials "a" {…}` as [{"a": {…}}, …]; JSON as {"a": {…}}: one shape for both."""
    if isinstance(value, list):
        merged: dict[str, Any] = {}
        for item in value:
            if isinstance(item, dict):
                merged.update({str(k).strip('"'): v for k, v in item.items()})
        return merged
    return value


def fragment_problem(fragment: Mapping[str, Any]) -> str | None:
    """Why the fragment may not be merged (None: it may)."""
    for key in fragment:
        if key in OURS:
            return (f"sets {key}, which the controller decides (provider plugins come from its mirror or "
                    f"plugin cache); remove {key} from the fragment")
        if key not in ALLOWED:
            return f"unknown setting {key!r}; a fragment may set: {', '.join(ALLOWED)}"
    for key in _LABELLED:
        if key in fragment and not isinstance(fragment[key], dict):
            return f"{key} must be blocks with one label each, e.g. {key} \"registry.example.com\" {{ ... }}"
    return None


def merge_cli_config(ours: Mapping[str, Any], fragment: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Our CLI configuration with the fragment's settings added; ours stay authoritative (refused otherwise)."""
    problem = fragment_problem(fragment)
    if problem:
        raise StallingError(CLI_CONFIG_INVALID, f"{where}: {problem}")
    return {**fragment, **ours}


def secret_strings(value: Any) -> Iterator[str]:
    """Every string in the fragment (tokens, helper arguments): what the scrubber hides."""
    if isinstance(value, str):
        if value:
            yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from secret_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from secret_strings(item)
