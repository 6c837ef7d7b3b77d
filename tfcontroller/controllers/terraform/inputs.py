"""Resolve a Terraform's inputs: `vars` (plain, sealed or `valueFrom` one key), `varsFrom`, `env` and `envFrom`.

Values read from Secrets and sealed values are collected in `secrets` so every error message and kept
stderr can be scrubbed of them. A missing Secret, ConfigMap or key (not marked optional) fails with
`VarsGenerationFailed` naming the object and key, never a value. Precedence (later wins): `varsFrom` in
order, then `vars`; `envFrom` in order, then `env`.

`varsFrom` and `vars[].valueFrom` values are strings in Secrets and ConfigMaps; for a variable whose declared type is not
`string`, a value that parses as JSON is passed decoded (so a ConfigMap can feed a list or a number).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tfcontroller.api.redact import secret_forms
from tfcontroller.api.terraform import Terraform
from tfcontroller.crypto.sealed import unseal
from tfcontroller.kube.client import KubeClient
from tfcontroller.terraform.inputs import InputReader, typed
from tfcontroller.terraform.inspect import ModuleInfo, sensitive_values
from tfcontroller.terraform.workspace import check_env


@dataclass(frozen=True)
class ResolvedInputs:
    variables: dict[str, Any] = field(repr=False)
    env: dict[str, str] = field(repr=False)
    secrets: tuple[str, ...] = field(repr=False)
    # where each variable's value came from (the last writer wins, as for the value): "spec.vars" or
    # "spec.varsFrom[i] (Secret ns/name)" — names and places only, never a value
    origins: dict[str, str] = field(default_factory=dict)
    sealed: dict[str, str] = field(default_factory=dict, repr=False)  # the decrypted sealed values by name

    def hidden_texts(self, info: ModuleInfo | None) -> list[str]:
        """What a readable plan must not show (design.md §4.7): every value read from a Secret or unsealed
        (and each element of a JSON one), and the values of the variables the module declares sensitive."""
        return [form for value in self.secrets for form in secret_forms(value)] + \
            sensitive_values(info, self.variables, self.env)


def resolve_inputs(
    kube: KubeClient,
    tf: Terraform,
    *,
    sealing_key: Callable[[], bytes],
    variable_types: Mapping[str, str | None] | None = None,
    retry_after: float = 30.0,
) -> ResolvedInputs:
    """Everything a run needs from the object's references. `sealing_key` is called only when a
    sealed value is present (the private key never sits in memory longer than needed)."""
    ns, name = tf.meta.namespace, tf.meta.name
    reader = InputReader(kube, ns, retry_after)
    types = variable_types or {}
    variables: dict[str, Any] = {}
    sealed: dict[str, str] = {}
    origins: dict[str, str] = {}
    for i, src in enumerate(tf.spec.vars_from):
        for k, v in reader.all_of(src, f"spec.varsFrom[{i}]").items():
            variables[k] = typed(v, types.get(k))
            origins[k] = f"spec.varsFrom[{i}] ({src.kind} {ns}/{src.name})"
    for i, var in enumerate(tf.spec.vars):
        origins[var.name] = "spec.vars"
        if var.value_from is not None:
            ref = var.value_from
            origins[var.name] = f"spec.vars[{i}].valueFrom ({ref.kind} {ns}/{ref.name})"
            found = reader.one(ref, f"spec.vars[{i}].valueFrom")
            if found is not None:  # an optional key that is missing leaves the variable unset
                variables[var.name] = typed(found, types.get(var.name))
            continue
        if var.sealed_value is not None:
            plain = unseal(sealing_key(), ns, name, var.sealed_value).decode("utf-8", "replace")
            sealed[var.name] = plain
            variables[var.name] = plain
        else:
            variables[var.name] = var.value
    env: dict[str, str] = {}
    for i, src in enumerate(tf.spec.env_from):
        env.update(reader.all_of(src, f"spec.envFrom[{i}]"))
    for i, item in enumerate(tf.spec.env):
        if item.value_from is None:
            env[item.name] = item.value or ""
            continue
        value = reader.one(item.value_from, f"spec.env[{i}].valueFrom")
        if value is not None:
            env[item.name] = value
    check_env(env)  # before any run: what a process environment cannot carry is a spec error
    return ResolvedInputs(variables, env, tuple(reader.secrets + list(sealed.values())), origins, sealed)
