"""Outputs of an applied module into the Secret `writeOutputsToSecret` names.

Strings are written as they are; numbers, booleans, maps and lists as JSON text, so a ManifestSet can
substitute any of them. The Secret is owned by the Terraform (garbage-collected with it) and labelled
with its name. Values go to the Secret only: status lists output names (`availableOutputs`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from tfcontroller.api.constants import LABEL_MANAGED_BY, LABEL_TERRAFORM, MANAGED_BY
from tfcontroller.api.errors import StallingError
from tfcontroller.api.terraform import OutputsSecret
from tfcontroller.kube.client import KubeClient
from tfcontroller.terraform.secret_chunks import owner_reference

OUTPUTS_FAILED = "OutputsWriteFailed"


def output_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(",", ":"))


def outputs_data(outputs: Mapping[str, Any], wanted: OutputsSecret) -> dict[str, bytes]:
    """The Secret's data: every output, or the listed ones (a listed name the module lacks is an error)."""
    names = list(wanted.outputs) if wanted.outputs is not None else sorted(outputs)
    missing = [n for n in names if n not in outputs]
    if missing:
        raise StallingError(OUTPUTS_FAILED, f"spec.writeOutputsToSecret.outputs: the module has no output "
                                            f"{', '.join(missing)} (it has: {', '.join(sorted(outputs)) or 'none'})")
    data = {}
    for n in names:
        entry = outputs[n]
        value = entry.get("value") if isinstance(entry, Mapping) else entry
        data[n] = output_text(value).encode()
    return data


def write_outputs(kube: KubeClient, obj: dict[str, Any], wanted: OutputsSecret, outputs: Mapping[str, Any]) -> int:
    """Write (create or replace) the outputs Secret; returns how many outputs it holds."""
    meta = obj["metadata"]
    data = outputs_data(outputs, wanted)
    kube.upsert_secret(meta["namespace"], wanted.name, data,
                       labels={LABEL_TERRAFORM: meta["name"], LABEL_MANAGED_BY: MANAGED_BY},
                       owner_references=[owner_reference(obj)])
    return len(data)
