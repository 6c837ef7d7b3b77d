"""Terraform's machine-readable output, parsed, and the ONE place where failures become error types.

Classification reads the `-json` diagnostics (summary, detail, range), never the human-readable text:
terraform-exec's history shows regexes over prose break between versions. The summaries matched below are
Terraform's own diagnostic titles, stable across 1.x. Anything unrecognised is transient.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

from tfcontroller.api.redact import scrub
from tfcontroller.terraform.errors import (
    ConfigurationError,
    Diagnostic,
    InitRequiredError,
    InvalidVariablesError,
    LockInfo,
    MissingVariablesError,
    ProviderError,
    StalePlanError,
    StateLockedError,
    TerraformError,
    TransientError,
)

_LOCK_SUMMARY = "Error acquiring the state lock"
# A saved plan made against another state than the one there now (design.md §4.2: plan again): another serial
# ("is stale"), or another lineage ("does not match", e.g. after `tfcontroller state import` replaced the state).
_STALE_SUMMARIES = frozenset({"Saved plan is stale", "Saved plan does not match the given state"})
_MISSING_VAR_SUMMARY = "No value for required variable"
_INVALID_VAR_PREFIXES = ("Invalid value for input variable", "Invalid value for variable")
_INIT_REQUIRED = (
    "Module not installed",
    "Required plugins are not installed",
    "Backend initialization required",
    "Module source has changed",
    "Module version requirements have changed",
    "Inconsistent dependency lock file",
    "Backend configuration changed",
)
_PROVIDER_PREFIXES = (
    "Failed to query available provider packages",
    "Failed to install provider",
    "Incompatible provider version",
    "Failed to load plugin schemas",
    "Invalid provider registry host",
    "Provider registry is unreachable",
    "Unsupported provider",
)
# HCL and Terraform language errors; they always carry a source range.
_CONFIG_PREFIXES = (
    "Invalid ",
    "Unsupported ",
    "Reference to undeclared",
    "Missing required argument",
    "Missing required provider",
    "Duplicate ",
    "Argument or block definition required",
    "Unclosed configuration block",
    "Missing newline after argument",
    "Unterminated template string",
    "Variables not allowed",
    "Incorrect attribute value type",
    "Missing item separator",
    "Extraneous label",
    "Missing name for",
    "Unknown variable",
    "Call to unknown function",
    "Error in function call",
    "Cycle:",
    # the JSON syntax (`*.tf.json`, `*.tfvars.json`), as Terraform 1.11 words it (found by the fuzz, issue 21)
    "Missing value",
    "Missing JSON value",
    "Missing property value colon",
    "Missing attribute seperator comma",  # sic: Terraform's spelling
    "Unclosed object",
    "Unclosed array",
    "Mismatched brackets",
    "Incorrect JSON value type",
    "Extraneous data after value",
    "Root value must be object",
)
# Configuration errors Terraform reports without a source range (the detail names the module call): a local
# module source that names no directory of the artifact (`../../etc`, `./missing`). Found by the fuzz (issue
# 21): TerraformFailed, re-initialised every backoff; the artifact of a revision never changes.
_CONFIG_WITHOUT_RANGE = ("Unreadable module directory",)
# A summary Terraform prints ahead of the real diagnostics during init; never the interesting one.
_INIT_PREAMBLE = "Terraform encountered problems during initialisation"

_VAR_NAME = re.compile(r'variable "([^"]+)"')
_LOCK_FIELD = re.compile(r"^\s*(ID|Path|Operation|Who|Version|Created|Info):[ \t]*(.*)$", re.MULTILINE)


def parse_json_lines(text: str) -> list[dict[str, Any]]:
    """The `-json` stream of plan/apply/init (one object per line; other lines are ignored), or the single
    pretty-printed document of `validate -json`."""
    if text.lstrip().startswith("{"):
        try:
            whole = json.loads(text)
        except json.JSONDecodeError:
            pass  # several documents: a stream
        else:
            return [whole] if isinstance(whole, dict) else []
    messages: list[dict[str, Any]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            messages.append(obj)
    return messages


def to_diagnostic(raw: dict[str, Any]) -> Diagnostic:
    rng = raw.get("range") or {}
    start = rng.get("start") or {}
    return Diagnostic(
        severity=str(raw.get("severity", "error")),
        summary=str(raw.get("summary", "")),
        detail=str(raw.get("detail") or ""),
        filename=rng.get("filename"),
        line=start.get("line"),
        column=start.get("column"),
    )


def diagnostics_from(messages: Iterable[dict[str, Any]]) -> list[Diagnostic]:
    """Diagnostics from a stream (`type: diagnostic`) or from `validate -json` (`diagnostics: [...]`)."""
    found: list[Diagnostic] = []
    for msg in messages:
        if msg.get("type") == "diagnostic" and isinstance(msg.get("diagnostic"), dict):
            found.append(to_diagnostic(msg["diagnostic"]))
        elif isinstance(msg.get("diagnostics"), list):
            found.extend(to_diagnostic(d) for d in msg["diagnostics"] if isinstance(d, dict))
    return found


def parse_lock_info(text: str) -> LockInfo | None:
    """The `Lock Info:` block (ID, Path, Operation, Who, Version, Created, Info) of a lock error."""
    idx = text.find("Lock Info:")
    if idx < 0:
        return None
    fields = {k.lower(): v.strip() for k, v in _LOCK_FIELD.findall(text[idx:])}
    if not fields.get("id"):
        return None
    return LockInfo(
        id=fields["id"],
        who=fields.get("who", ""),
        operation=fields.get("operation", ""),
        created=fields.get("created", ""),
        path=fields.get("path", ""),
        version=fields.get("version", ""),
        info=fields.get("info", ""),
    )


def _scrubbed(d: Diagnostic, secrets: Sequence[str]) -> Diagnostic:
    return Diagnostic(d.severity, scrub(d.summary, secrets), scrub(d.detail, secrets), d.filename, d.line,
                      d.column)


VARIABLES_FILE_SUFFIXES = (".tfvars", ".tfvars.json")


def _in_variables_file(d: Diagnostic) -> bool:
    """An error Terraform locates in a variables definitions file (spec.tfVarsFiles, the run's own variables
    file, a module's `*.auto.tfvars`): such a file holds values only, so the error is about its content —
    its syntax (`Missing value`, `Invalid JSON keyword`, `Unterminated template string`…), a value's shape —
    and no retry can help until the file changes. Found by the fuzz (issue 21): a broken `.tfvars.json`
    was `TerraformFailed` (`Missing value`, not a summary of the lists above), re-planned every backoff."""
    return d.filename is not None and d.filename.endswith(VARIABLES_FILE_SUFFIXES)


def classify(
    command: str,
    diagnostics: Sequence[Diagnostic],
    stderr: str = "",
    secrets: Sequence[str] = (),
) -> TerraformError:
    """Turn a failed command's diagnostics into one typed error; the unknown is a TransientError."""
    stderr = scrub(stderr, secrets)
    diags = tuple(_scrubbed(d, secrets) for d in diagnostics)
    errors = [d for d in diags if d.severity == "error" and not d.summary.startswith(_INIT_PREAMBLE)]
    extra: dict[str, Any] = {"stderr": stderr, "diagnostics": diags}

    for d in errors:
        if d.summary == _LOCK_SUMMARY or "Lock Info:" in d.detail:
            lock = parse_lock_info(d.detail) or LockInfo(id="")
            holder = f" by {lock.who}" if lock.who else ""
            op = f" ({lock.operation})" if lock.operation else ""
            return StateLockedError(lock, f"state is locked{holder}{op}, lock id {lock.id or 'unknown'}", **extra)
    if any(d.summary in _STALE_SUMMARIES for d in errors):
        return StalePlanError(**extra)
    missing = [m.group(1) for d in errors if d.summary == _MISSING_VAR_SUMMARY
               for m in [_VAR_NAME.search(d.detail)] if m]
    if missing:
        return MissingVariablesError(missing, **extra)
    for d in errors:
        if d.summary.startswith(_INVALID_VAR_PREFIXES) or _in_variables_file(d):
            return InvalidVariablesError(d.one_line(), **extra)
    for d in errors:
        if d.summary.startswith(_INIT_REQUIRED):
            return InitRequiredError(d.one_line(), **extra)
    for d in errors:
        if d.summary.startswith(_PROVIDER_PREFIXES):
            return ProviderError(d.one_line(), **extra)
    for d in errors:
        if (d.filename is not None and d.summary.startswith(_CONFIG_PREFIXES)) or d.summary in _CONFIG_WITHOUT_RANGE:
            return ConfigurationError(d.one_line(), location=d.location, **extra)

    if not errors:
        printed = parse_lock_info(stderr)  # commands without -json (workspace) print the same block
        if printed is not None:
            return StateLockedError(printed, f"state is locked by {printed.who or 'unknown'}, lock id {printed.id}",
                                    **extra)
        last = _last_error_line(stderr)
        return TransientError("TerraformFailed", f"terraform {command} failed" + (f": {last}" if last else ""),
                              **extra)
    return TransientError("TerraformFailed", f"terraform {command} failed: {errors[0].one_line()}", **extra)


def _last_error_line(stderr: str) -> str:
    for line in reversed(stderr.splitlines()):
        text = line.strip(" │╷╵\t")
        if text:
            return text[:500]
    return ""
