"""A container's environment as the kubelet builds it: `envFrom` (with `prefix`), then `env` (value,
`$(VAR)` references, `valueFrom` secretKeyRef / configMapKeyRef / fieldRef / resourceFieldRef), over the
service variables (KUBERNETES_SERVICE_HOST/PORT…). Pure: the Secrets and ConfigMaps come from a lookup.

A missing non-optional Secret, ConfigMap or key raises `ConfigError` with the kubelet's message; the
container then waits with reason `CreateContainerConfigError` and is retried when the object appears.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

Obj = dict[str, Any]
Lookup = Callable[[str, str], Obj | None]  # (plural "secrets"|"configmaps", name) -> object or None

CONFIG_ERROR = "CreateContainerConfigError"
_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1), "k": Decimal(10**3),
            "M": Decimal(10**6), "G": Decimal(10**9), "T": Decimal(10**12), "P": Decimal(10**15), "E": Decimal(10**18)}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?$")


class ConfigError(Exception):
    """The container cannot be configured yet (a referenced object or key is missing)."""


def parse_quantity(text: str | int | float) -> Decimal:
    """A resource.Quantity string ("128Mi", "500m", "1e3", "2") as a number; ValueError when invalid."""
    match = _QUANTITY.match(str(text).strip())
    if not match:
        raise ValueError(f"quantities must match the regular expression: {text!r}")
    try:
        number = Decimal(match.group(1))
    except InvalidOperation:
        raise ValueError(f"invalid quantity {text!r}") from None
    suffix = match.group(2) or ""
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix in _DECIMAL:
        return number * _DECIMAL[suffix]
    return number * (Decimal(10) ** int(suffix[1:]))


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion: defined variables are replaced, undefined references stay as
    written, `$$` is an escaped `$`."""

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env[name] if name in env else match.group(0)

    return _REF.sub(one, text)


def _decoded(plural: str, obj: Obj) -> dict[str, str]:
    if plural == "secrets":
        return {k: base64.b64decode(v).decode(errors="replace") for k, v in (obj.get("data") or {}).items()}
    return {k: str(v) for k, v in (obj.get("data") or {}).items()}


_KINDS = {"secrets": ("secret", "Secret"), "configmaps": ("configmap", "ConfigMap")}


def _source(lookup: Lookup, plural: str, name: str, namespace: str) -> dict[str, str]:
    obj = lookup(plural, name)
    if obj is None:
        raise ConfigError(f'{_KINDS[plural][0]} "{name}" not found')
    return _decoded(plural, obj)


def _key_ref(lookup: Lookup, plural: str, ref: Obj, namespace: str) -> str | None:
    optional = bool(ref.get("optional"))
    name, key = ref.get("name", ""), ref.get("key", "")
    obj = lookup(plural, name)
    if obj is None:
        if optional:
            return None
        raise ConfigError(f'{_KINDS[plural][0]} "{name}" not found')
    data = _decoded(plural, obj)
    if key not in data:
        if optional:
            return None
        raise ConfigError(f"couldn't find key {key} in {_KINDS[plural][1]} {namespace}/{name}")
    return data[key]


def field_ref(pod: Obj, path: str) -> str:
    """The value a downward-API `fieldRef.fieldPath` names (env and downwardAPI volumes)."""
    meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    keyed = re.match(r"^metadata\.(labels|annotations)\['(.+)'\]$", path)
    if keyed:
        return str((meta.get(keyed.group(1)) or {}).get(keyed.group(2), ""))
    if path in ("metadata.labels", "metadata.annotations"):
        values = meta.get(path.split(".")[1]) or {}
        return "\n".join(f'{k}="{v}"' for k, v in sorted(values.items()))
    simple = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "status.hostIP": status.get("hostIP", ""),
        "status.hostIPs": ",".join(i.get("ip", "") for i in status.get("hostIPs") or []),
        "status.podIP": status.get("podIP", ""),
        "status.podIPs": ",".join(i.get("ip", "") for i in status.get("podIPs") or []),
    }
    if path not in simple:
        raise ConfigError(f'unsupported fieldPath "{path}"')
    return str(simple[path])


def resource_ref(pod: Obj, container_name: str, ref: Obj, node_allocatable: dict[str, str]) -> str:
    """`resourceFieldRef`: the container's limit or request divided by `divisor` (rounded up); an unset
    limit is the node's allocatable, as on a real node."""
    resource = ref.get("resource", "")
    name = ref.get("containerName") or container_name
    containers = (pod.get("spec") or {}).get("containers") or []
    container = next((c for c in containers if c.get("name") == name), None)
    if container is None:
        raise ConfigError(f"container {name} not found for resourceFieldRef")
    kind, _, res = resource.partition(".")
    values = (container.get("resources") or {}).get(kind) or {}
    raw = values.get(res)
    if raw is None and kind == "requests":
        raw = ((container.get("resources") or {}).get("limits") or {}).get(res)
    if raw is None:
        raw = node_allocatable.get(res, "0") if kind == "limits" else "0"
    divisor = parse_quantity(ref.get("divisor") or "1")
    if divisor == 0:
        divisor = Decimal(1)
    return str(math.ceil(parse_quantity(raw) / divisor))


def container_env(
    pod: Obj,
    container: Obj,
    lookup: Lookup,
    base: dict[str, str],
    node_allocatable: dict[str, str] | None = None,
) -> dict[str, str]:
    """The environment of `container`, or ConfigError. `base` (PATH, HOSTNAME, service variables) comes
    first, `envFrom` sources next in order, `env` entries last (each may reference earlier ones)."""
    namespace = pod["metadata"].get("namespace", "default")
    env = dict(base)
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix") or ""
        for plural, key in (("configmaps", "configMapRef"), ("secrets", "secretRef")):
            ref = source.get(key)
            if ref is None:
                continue
            try:
                data = _source(lookup, plural, ref.get("name", ""), namespace)
            except ConfigError:
                if ref.get("optional"):
                    continue
                raise
            for key_name, key_value in data.items():
                env[prefix + key_name] = key_value
    for item in container.get("env") or []:
        name = item.get("name", "")
        if "valueFrom" not in item:
            env[name] = expand(str(item.get("value") or ""), env)
            continue
        value_from = item["valueFrom"] or {}
        value: str | None = ""
        if "secretKeyRef" in value_from:
            value = _key_ref(lookup, "secrets", value_from["secretKeyRef"], namespace)
        elif "configMapKeyRef" in value_from:
            value = _key_ref(lookup, "configmaps", value_from["configMapKeyRef"], namespace)
        elif "fieldRef" in value_from:
            value = field_ref(pod, value_from["fieldRef"].get("fieldPath", ""))
        elif "resourceFieldRef" in value_from:
            value = resource_ref(pod, container.get("name", ""), value_from["resourceFieldRef"], node_allocatable or {})
        if value is not None:
            env[name] = value
    return env
