"""The run's inputs, read by the runner with its own identity: `varsFrom`, `vars[].valueFrom`, `envFrom`,
`env.valueFrom`.

The same precedence as the controller's rule (later wins): `varsFrom` in order, then `vars` (plain, one
key by `valueFrom`; names are unique, so their order does not matter), then
the sealed values the controller decrypted; `envFrom` in order, then `env`. A value from a Secret is kept
in `secrets` so that every message and log line is scrubbed of it. A missing object or key (not optional)
and an object the runner's ServiceAccount may not read both fail with `VarsGenerationFailed`, naming the
field and the object — the second also the identity and what to grant, because the fix is an RBAC rule
in the tenant's namespace, not a change of the spec.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tfcontroller.api.errors import StallingError
from tfcontroller.api.run_protocol import RunRequest
from tfcontroller.kube.errors import Forbidden
from tfcontroller.kube.values import ValueSource
from tfcontroller.terraform.inputs import VARS_FAILED, InputReader, typed
from tfcontroller.terraform.run_files import RunFiles, read_run_files

RETRY_SECONDS = 30.0


@dataclass(frozen=True)
class RunInputs:
    variables: dict[str, Any] = field(repr=False)
    env: dict[str, str] = field(repr=False)
    secrets: tuple[str, ...] = field(repr=False)


class ConnectOnFirstRead:
    """The runner's API client, made on the first read of a Secret or ConfigMap: a run whose references are
    all literal (the common case) never loads the client and its HTTP stack (issue 21: ~0.1 s of CPU per
    run). Terraform's kubernetes backend has its own client; it does not use this one."""

    def __init__(self, kubeconfig: str | None) -> None:
        self.kubeconfig = kubeconfig
        self._client: Any = None

    def _connected(self) -> Any:
        if self._client is None:
            # imported here: only a run that reads references pays for the client
            from tfcontroller.kube.client import KubeClient

            self._client = KubeClient.load(self.kubeconfig, static=bool(self.kubeconfig))
        return self._client

    def read_secret_data(self, namespace: str, name: str) -> dict[str, bytes]:
        data: dict[str, bytes] = self._connected().read_secret_data(namespace, name)
        return data

    def read_configmap_data(self, namespace: str, name: str) -> dict[str, str]:
        data: dict[str, str] = self._connected().read_configmap_data(namespace, name)
        return data


def forbidden_message(where: str, kind: str, namespace: str, name: str, refusal: str) -> str:
    """What a refused read says: the field, the object, the server's refusal (which names the runner's
    user) and the grant that fixes it."""
    resource = "secrets" if kind == "Secret" else "configmaps"
    return (f"{where}: the runner may not read {kind} {namespace}/{name} ({refusal}); grant its "
            f"ServiceAccount `get` on {resource} {name!r} in namespace {namespace} (the namespace's runner Role)")


class _Reader(InputReader):
    """The shared reader, except that a read the runner's ServiceAccount may not make stalls, saying
    what to grant (retrying cannot help until the tenant's Role changes)."""

    def read(self, kind: str, name: str, where: str) -> dict[str, str] | None:
        try:
            return self.data(kind, name)
        except Forbidden as exc:
            raise StallingError(VARS_FAILED, forbidden_message(where, kind, self.namespace, name,
                                                               exc.message)) from None


def resolve(kube: ValueSource, request: RunRequest,
            variable_types: Mapping[str, str | None] | None = None) -> RunInputs:
    reader = _Reader(kube, request.namespace, RETRY_SECONDS)
    types = variable_types or {}
    variables: dict[str, Any] = {}
    for i, src in enumerate(request.vars_from):
        for key, value in reader.all_of(src, f"spec.varsFrom[{i}]").items():
            variables[key] = typed(value, types.get(key))
    variables.update(request.variables)
    for ref in request.var_refs:
        found = reader.one(ref.value_from, f"spec.vars[{ref.index}].valueFrom")
        if found is not None:  # an optional key that is missing leaves the variable unset
            variables[ref.name] = typed(found, types.get(ref.name))
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


def resolve_files(kube: ValueSource, request: RunRequest) -> tuple[RunFiles, tuple[str, ...]]:
    """`cliConfigSecretRef` and `fileMappings` (issue 20), read as the runner, refused as `resolve` refuses;
    with the values to scrub (each file's content, each token of the fragment)."""
    reader = _Reader(kube, request.namespace, RETRY_SECONDS)
    files = read_run_files(reader, request.cli_config_ref, request.file_mappings)
    return files, tuple(reader.secrets)
