"""What a module declares, read with python-hcl2 before Terraform runs.

Used to report missing required variables by name before any Terraform process starts, to say which
outputs are sensitive, and to spot a `cloud` block, which our backend override cannot replace. (The local
modules a module calls are found by `source/module_reads/`, the one module-call discovery.)
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tfcontroller.api.redact import secret_forms, sensitive_texts
from tfcontroller.api.run_protocol import DeclaredVariable, variable_name_carried
from tfcontroller.terraform.errors import ConfigurationError, MissingVariablesError, StallingError

# Our generated file is not part of what the user declared.
_GENERATED_FILES = {"backend_override.tf"}


@dataclass(frozen=True)
class VariableInfo:
    required: bool
    type: str | None = None
    sensitive: bool = False


@dataclass(frozen=True)
class OutputInfo:
    sensitive: bool = False


@dataclass(frozen=True)
class ModuleInfo:
    variables: dict[str, VariableInfo] = field(default_factory=dict)
    outputs: dict[str, OutputInfo] = field(default_factory=dict)
    backend: str | None = None
    has_cloud_block: bool = False
    # variables the module's own automatic variables files set (AUTO_VAR_FILES); ANY_VARIABLE in it: a file
    # this parser cannot read, which may set any (so none is reported missing)
    auto_var_names: frozenset[str] = frozenset()


ANY_VARIABLE = "*"


def is_auto_var_file(filename: str) -> bool:
    """A variables file Terraform loads from the working directory by itself, without -var-file:
    `terraform.tfvars`, `terraform.tfvars.json`, `*.auto.tfvars`, `*.auto.tfvars.json`."""
    return filename in ("terraform.tfvars", "terraform.tfvars.json") or filename.endswith(
        (".auto.tfvars", ".auto.tfvars.json"))


def auto_var_names(files: Mapping[str, bytes]) -> frozenset[str]:
    """The variables the automatic variables files among `files` set. Found by the fuzz (issue 21): the
    pre-run check ignored them, so a module whose required variables come from its own `terraform.tfvars`
    or `*.auto.tfvars` stalled with MissingVariables before Terraform could run it. A file that does not
    parse here sets ANY_VARIABLE: Terraform judges it (an error located in it stalls, VariablesInvalid)."""
    import hcl2.api  # here: a runner given the declarations by the controller never parses (issue 21)

    names: set[str] = set()
    for filename in sorted(f for f in files if is_auto_var_file(f)):
        try:
            text = files[filename].decode("utf-8")
            doc = json.loads(text) if filename.endswith(".json") else hcl2.api.loads(text)
        except Exception:  # python-hcl2 raises lark errors of many types; UnicodeDecodeError, JSONDecodeError
            return frozenset({ANY_VARIABLE})
        if not isinstance(doc, dict):
            return frozenset({ANY_VARIABLE})
        names.update(str(k) for k in doc)
    return frozenset(names)


class ModuleParseError(ConfigurationError):
    """python-hcl2 could not read a file. Terraform may still accept it (the parser lags the language);
    a caller may catch this and let `terraform validate` decide."""


def _unquote(value: Any) -> Any:
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def _type_text(value: Any) -> str | None:
    """`string`, or `map(string)` from python-hcl2's `${map(string)}` rendering of an expression."""
    if value is None:
        return None
    text = str(_unquote(value))
    return text[2:-1] if text.startswith("${") and text.endswith("}") else text


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and _unquote(value).strip().lower() == "true")


def _blocks(doc: Mapping[str, Any], kind: str) -> list[tuple[str, dict[str, Any]]]:
    """`(label, body)` pairs for one block kind in either parsed HCL (list of dicts) or JSON (dict)."""
    raw = doc.get(kind)
    items: list[Any] = raw if isinstance(raw, list) else [raw] if isinstance(raw, dict) else []
    found: list[tuple[str, dict[str, Any]]] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        for label, body in item.items():
            for one in body if isinstance(body, list) else [body]:
                found.append((str(_unquote(label)), one if isinstance(one, dict) else {}))
    return found


def _load(filename: str, data: bytes) -> dict[str, Any]:
    import hcl2.api  # here: a runner given the declarations by the controller never parses (issue 21)

    try:
        text = data.decode()
        if filename.endswith(".tf.json"):
            parsed = json.loads(text)
        else:
            parsed = hcl2.api.loads(text)
    except Exception as exc:  # the parser raises lark errors of several kinds
        first = " ".join(str(exc).split())[:300]
        raise ModuleParseError(f"cannot parse {filename}: {first}", location=filename) from None
    return parsed if isinstance(parsed, dict) else {}


def inspect_module(module_dir: str | Path) -> ModuleInfo:
    directory = Path(module_dir)
    return inspect_files({p.name: p.read_bytes() for p in directory.iterdir()
                          if p.is_file() and (p.name.endswith((".tf", ".tf.json")) or is_auto_var_file(p.name))})


def inspect_files(files: Mapping[str, bytes]) -> ModuleInfo:
    """`inspect_module` on the module's files given by name (`*.tf`, `*.tf.json` and the automatic variables
    files of its directory), e.g. read from an artifact without extracting it (archive.read_module_files)."""
    variables: dict[str, VariableInfo] = {}
    outputs: dict[str, OutputInfo] = {}
    backend: str | None = None
    cloud = False
    for filename in sorted(files):
        if not filename.endswith((".tf", ".tf.json")) or filename in _GENERATED_FILES:
            continue
        doc = _load(filename, files[filename])
        for name, body in _blocks(doc, "variable"):
            variables[name] = VariableInfo(
                required="default" not in body,
                type=_type_text(body.get("type")),
                sensitive=_truthy(body.get("sensitive")),
            )
        for name, body in _blocks(doc, "output"):
            outputs[name] = OutputInfo(sensitive=_truthy(body.get("sensitive")))
        for terraform in _terraform_blocks(doc):
            for kind, _body in _blocks(terraform, "backend"):
                backend = kind
            if terraform.get("cloud") is not None:
                cloud = True
    return ModuleInfo(variables, outputs, backend, cloud, auto_var_names(files))


def declared_variables(info: ModuleInfo | None) -> dict[str, DeclaredVariable] | None:
    """What a run request tells the runner of the module's variables (their types and which are sensitive),
    so that it need not parse the module again (issue 21); None when the module could not be read, or
    declares a name the protocol cannot carry (Terraform accepts `variable "päss"`): the runner then parses
    the module as before, rather than every run failing at the request check. Pure."""
    if info is None or not all(variable_name_carried(name) for name in info.variables):
        return None
    return {name: DeclaredVariable(var.type, var.sensitive) for name, var in info.variables.items()}


def module_info_of(declared: Mapping[str, DeclaredVariable]) -> ModuleInfo:
    """The inverse, as far as a run needs it: types and sensitivity (whether a variable is required was
    checked by the controller before the run). Pure."""
    return ModuleInfo({name: VariableInfo(required=False, type=var.type, sensitive=var.sensitive)
                       for name, var in declared.items()})


def _terraform_blocks(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    raw = doc.get("terraform")
    items = raw if isinstance(raw, list) else [raw] if isinstance(raw, dict) else []
    return [i for i in items if isinstance(i, dict)]


def missing_required_variables(
    info: ModuleInfo, provided_names: Iterable[str], env: Mapping[str, str] | None = None
) -> list[str]:
    """Required variables with no value; `TF_VAR_<name>` entries of the run's env and what the module's own
    automatic variables files set (`ModuleInfo.auto_var_names`) count as provided."""
    if ANY_VARIABLE in info.auto_var_names:
        return []
    provided = set(provided_names) | info.auto_var_names
    provided.update(k[len("TF_VAR_"):] for k in (env or {}) if k.startswith("TF_VAR_"))
    return sorted(name for name, var in info.variables.items() if var.required and name not in provided)


def undeclared_variables(info: ModuleInfo, provided_names: Iterable[str]) -> list[str]:
    """Variables given a value that the root module does not declare: Terraform ignores them with the
    warning "Value for undeclared variable" (an error only on the command line, which we never use)."""
    return sorted(set(provided_names) - set(info.variables))


def check_module(info: ModuleInfo, provided_names: Iterable[str], env: Mapping[str, str] | None = None) -> None:
    """Refuse what cannot run: a `cloud` block (state would bypass our backend), missing variables."""
    if info.has_cloud_block:
        raise StallingError(
            "CloudBlockUnsupported",
            "the module declares a terraform `cloud` block; remove it: tfcontroller keeps state in the "
            "kubernetes backend and cannot override a cloud block",
        )
    missing = missing_required_variables(info, provided_names, env)
    if missing:
        raise MissingVariablesError(missing)


def sensitive_values(info: ModuleInfo | None, variables: Mapping[str, Any], env: Mapping[str, str]) -> list[str]:
    """The values of the variables the module declares `sensitive`: a whole value and, for a list, map or
    object, each string and number in it (a module may echo one element, `nonsensitive(var.x["key"])`),
    given as a variable or as `TF_VAR_<name>` in the run's environment. What a run's log lines and the
    readable plan are scrubbed of, beside the values read from Secrets."""
    if info is None:
        return []
    values: list[str] = []
    for name, var in info.variables.items():
        if var.sensitive and name in variables:
            values.extend(sensitive_texts(variables[name]))
        if var.sensitive and f"TF_VAR_{name}" in env:  # Terraform reads it from the environment too
            values.extend(secret_forms(env[f"TF_VAR_{name}"]))
    return values
