"""Outputs of an applied module into the Secret `writeOutputsToSecret` names.

Strings are written as they are; numbers, booleans, maps and lists as JSON text, so a ManifestSet can
substitute any of them. The Secret is owned by the Terraform (garbage-collected with it) and labelled
with its name. Values go to the Secret only: status lists output names (`availableOutputs`).

Issue 20: an output may be written under another key (`outputs: ["vpc_id:network_id"]`), and the Secret
carries the user's labels and annotations beside ours. Which of them we set is recorded on the Secret
(`tfcontroller.io/outputs-metadata`), so a label or annotation removed from the spec is removed from the
Secret too, while what others (a tool, a person) put on it is left alone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from tfcontroller.api.constants import GROUP, LABEL_MANAGED_BY, LABEL_TERRAFORM, MANAGED_BY
from tfcontroller.api.errors import StallingError
from tfcontroller.api.terraform import OutputsSecret
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import SECRETS
from tfcontroller.terraform.secret_chunks import owner_reference

OUTPUTS_FAILED = "OutputsWriteFailed"
ANNOTATION_OUTPUTS_METADATA = f"{GROUP}/outputs-metadata"  # JSON: the label and annotation keys we set


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
        data[wanted.key_of(n)] = output_text(value).encode()
    return data


def stale_metadata(previous: Any, wanted: OutputsSecret) -> dict[str, list[str]]:
    """Label and annotation keys we set last time (the recorded JSON, `previous`) that the spec no
    longer asks for: to be removed from the Secret. A record that cannot be read removes nothing."""
    try:
        recorded = json.loads(previous) if isinstance(previous, str) else {}
    except json.JSONDecodeError:
        recorded = {}
    if not isinstance(recorded, dict):
        recorded = {}
    out = {}
    for kind, now in (("labels", dict(wanted.labels)), ("annotations", dict(wanted.annotations))):
        before = recorded.get(kind)
        keys = [k for k in before if isinstance(k, str) and k not in now] if isinstance(before, list) else []
        out[kind] = sorted(k for k in keys if not k.startswith(f"{GROUP}/"))
    return out


def write_outputs(kube: KubeClient, obj: dict[str, Any], wanted: OutputsSecret, outputs: Mapping[str, Any]) -> int:
    """Write (create or replace) the outputs Secret; returns how many outputs it holds."""
    meta = obj["metadata"]
    namespace = meta["namespace"]
    data = outputs_data(outputs, wanted)
    existing = kube.get_or_none(SECRETS, wanted.name, namespace)
    previous = ((existing or {}).get("metadata", {}).get("annotations") or {}).get(ANNOTATION_OUTPUTS_METADATA)
    record = json.dumps({"labels": [k for k, _ in wanted.labels], "annotations": [k for k, _ in wanted.annotations]},
                        separators=(",", ":"))
    kube.upsert_secret(namespace, wanted.name, data,
                       labels={**dict(wanted.labels), LABEL_TERRAFORM: meta["name"], LABEL_MANAGED_BY: MANAGED_BY},
                       annotations={**dict(wanted.annotations), ANNOTATION_OUTPUTS_METADATA: record},
                       owner_references=[owner_reference(obj)])
    stale = stale_metadata(previous, wanted)
    if stale["labels"] or stale["annotations"]:
        kube.patch(SECRETS, wanted.name, {"metadata": {kind: dict.fromkeys(keys) for kind, keys in stale.items() if keys}},
                   namespace)
    return len(data)
