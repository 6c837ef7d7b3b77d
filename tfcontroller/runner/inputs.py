"""The run's inputs, read by the runner with its own identity: `varsFrom`, `envFrom`, `env.valueFrom`.

The same precedence as the controller's rule (later wins): `varsFrom` in order, then plain `vars`, then
the sealed values the controller decrypted; `envFrom` in order, then `env`. A value from a Secret is kept
in `secrets` so that every message and log line is scrubbed of it. A missing object or key (not optional)
and an object the runner's ServiceAccount may not read both fail with `VarsGenerationFailed`, naming the
field and the object — the second also the identity and what to grant, because the fix is an RBAC rule
in the tenant's namespace, not a change of the spec.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tfcontroller.api.errors import StallingError, WaitingError
from tfcontroller.api.refs import KeyRef, ValuesFrom
from tfcontroller.api.run_protocol import RunRequest
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.errors import Forbidden
from tfcontroller.kube.values import ValueReader

VARS_FAILED = "VarsGenerationFailed"
RETRY_SECONDS = 30.0


@dataclass(frozen=True)
class RunInputs:
    variables: dict[str, Any] = field(repr=False)
    env: dict[str, str] = field(repr=False)
    secrets: tuple[str, ...] = field(repr=False)


def forbidden_message(where: str, kind: str, namespace: str, name: str, refusal: str) -> str:
    """What a refused read says: the field, the object, the server's refusal (which names the runner's
    user) and the grant that fixes it."""
    resource = "secrets" if kind == "Secret" else "configmaps"
    return (f"{where}: the runner may not read {kind} {namespace}/{name} ({refusal}); grant its "
            f"ServiceAccount `get` on {resource} {name!r} in namespace {namespace} (the namespace's runner Role)")


class _Reader(ValueReader):
    def read(self, kind: str, name: str, where: str) -> dict[str, str] | None:
        try:
            return self.data(kind, name)
        except Forbidden as exc:
            raise StallingError(VARS_FAILED, forbidden_message(where, kind, self.namespace, name,
                                                               exc.message)) from None

    def all_of(self, src: ValuesFrom, where: str) -> dict[str, str]:
        data = self.read(src.kind, src.name, where)
        if data is None:
            if src.optional:
                return {}
            raise WaitingError(VARS_FAILED, f"{where}: {src.kind} {self.namespace}/{src.name} not found",
                               RETRY_SECONDS)
        if src.keys is None:
            return dict(data)
        missing = [k for k in src.keys if k not in data]
        if missing and not src.optional:
            raise WaitingError(VARS_FAILED, f"{where}: key {missing[0]!r} not found in {src.kind} "
                                            f"{self.namespace}/{src.name}", RETRY_SECONDS)
        return {k: data[k] for k in src.keys if k in data}

    def one(self, ref: KeyRef, where: str) -> str | None:
        data = self.read(ref.kind, ref.name, where)
        if data is None or ref.key not in data:
            if ref.optional:
                return None
            what = (f"{ref.kind} {self.namespace}/{ref.name} not found" if data is None
                    else f"key {ref.key!r} not found in {ref.kind} {self.namespace}/{ref.name}")
            raise WaitingError(VARS_FAILED, f"{where}: {what}", RETRY_SECONDS)
        return data[ref.key]


def typed(value: str, declared_type: str | None) -> Any:
    """A string from a Secret/ConfigMap for a variable of a non-string type is passed decoded when it is
    JSON (a ConfigMap can feed a list or a number), as the controller does."""
    if declared_type in (None, "string", "any"):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def resolve(kube: KubeClient, request: RunRequest,
            variable_types: Mapping[str, str | None] | None = None) -> RunInputs:
    reader = _Reader(kube, request.namespace)
    types = variable_types or {}
    variables: dict[str, Any] = {}
    for i, src in enumerate(request.vars_from):
        for key, value in reader.all_of(src, f"spec.varsFrom[{i}]").items():
            variables[key] = typed(value, types.get(key))
    variables.update(request.variables)
    variables.update(request.sealed_variables)
    env: dict[str, str] = {}
    for i, src in enumerate(request.env_from):
        env.update(reader.all_of(src, f"spec.envFrom[{i}]"))
    for i, item in enumerate(request.env):
        if item.value_from is None:
            env[item.name] = item.value or ""
            continue
        found = reader.one(item.value_from, f"spec.env[{i}].valueFrom")
        if found is not None:
            env[item.name] = found
    return RunInputs(variables, env, (*reader.secrets, *request.sealed_variables.values()))
