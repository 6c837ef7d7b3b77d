"""Moving an existing state into (and out of) an object's kubernetes-backend state Secret (issue 20).

Teams bring stacks whose state lives in S3, Terraform Cloud or a local file. `tfcontroller state import`
writes such a state into the Secret Terraform's kubernetes backend reads (`tfstate-<workspace>-<suffix>`,
key `tfstate`, gzip-compressed JSON, the backend's labels), so that the object's first plan sees the
stack's resources and shows no changes for an unchanged stack; `tfcontroller state pull` reads it back.

The state is written directly, not through `terraform state push`: the operator's machine needs no
Terraform, no backend configuration and no kubeconfig file Terraform understands (exec plugins, contexts
chosen by flags), and the rules below are ours anyway. They are the same guards `state push` has, made
stricter because the object may be planning against the state at the same time:

- The file must be a Terraform state (format version 4, a lineage, a serial): anything else is refused
  before the cluster is touched (`parse_state_file`).
- Replacing a state that holds resources or outputs needs `--force <current serial>`: the operator names
  the state they looked at, so a state that changed since (an apply in between) is never overwritten.
  An absent or empty state (what the controller or `terraform init` created) is replaced without it.
- The written serial is always above the replaced one (raised when needed), so a plan saved against the
  previous state is stale for Terraform and is planned again (design.md §4.2), never applied to the
  imported one. Lineage is kept: the imported state stays the same state it was in S3.
- A held lock (the object's run is using the state) refuses; the write is conditional on the Secret's
  resourceVersion, so a write that raced with Terraform's is refused, not merged.
- A state Secret the importing object may not use is refused by the controller's own rule (design.md §4.8,
  `terraform/state_ownership.py`, applied by the CLI before the write); the imported one is recorded as
  owned by the importing object.

`plan_import` is the pure rule (unit-tested on plain dicts); the rest reads and writes the Secret.
Nothing here logs a state: it holds every resource attribute, sensitive ones included.
"""

from __future__ import annotations

import base64
import gzip
import json
from dataclasses import dataclass
from typing import Any

from tfcontroller.api.constants import ANNOTATION_STATE_OWNER, ANNOTATION_STATE_OWNER_UID
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.errors import NotFound
from tfcontroller.kube.resources import SECRETS
from tfcontroller.terraform.state import STATE_KEY, read_lock, state_parts

STATE_FORMAT_VERSION = 4  # Terraform >= 0.12 writes format 4; 1.x reads nothing else
# A state the kubernetes backend keeps in one Secret (1 MiB per object, less the metadata). A larger one
# would need the backend's own `-part-<n>` layout: `terraform state push` writes that.
MAX_COMPRESSED_BYTES = 900 * 1024


class StateFileError(ValueError):
    """The given file is not a Terraform state we can import; the message says what is wrong."""


class ImportRefused(Exception):
    """The import would lose or corrupt a state; the message says why and what to do."""


@dataclass(frozen=True)
class ImportPlan:
    """What to write and what to tell the operator."""

    document: dict[str, Any]
    notes: tuple[str, ...] = ()


def parse_state_file(raw: bytes) -> dict[str, Any]:
    """The state document in `raw`, checked to be a Terraform state of format 4 (StateFileError if not)."""
    if not raw.strip():
        raise StateFileError("the file is empty: expected a Terraform state (terraform state pull > FILE)")
    try:
        doc = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StateFileError(f"not JSON ({exc}): expected a Terraform state (terraform state pull > FILE)") from None
    if not isinstance(doc, dict):
        raise StateFileError("not a Terraform state: the document is not a JSON object")
    version = doc.get("version")
    if version != STATE_FORMAT_VERSION:
        raise StateFileError(f"state format version {version!r} is not supported: only version "
                             f"{STATE_FORMAT_VERSION} (Terraform 0.12 and later); run `terraform init` and "
                             "`terraform state pull` with a current Terraform to upgrade it")
    lineage = doc.get("lineage")
    if not isinstance(lineage, str) or not lineage:
        raise StateFileError("the state has no lineage: not a state Terraform wrote")
    serial = doc.get("serial")
    if not isinstance(serial, int) or isinstance(serial, bool) or serial < 0:
        raise StateFileError(f"the state's serial {serial!r} is not a non-negative integer")
    if not isinstance(doc.get("resources", []), list) or not isinstance(doc.get("outputs", {}), dict):
        raise StateFileError("the state's resources must be a list and its outputs an object")
    return doc


def is_empty(doc: dict[str, Any] | None) -> bool:
    """No state, or one with neither resources nor outputs (what `init` or the controller created)."""
    return doc is None or (not doc.get("resources") and not doc.get("outputs"))


def describe(doc: dict[str, Any]) -> str:
    return (f"serial {doc.get('serial')}, lineage {doc.get('lineage')}, "
            f"{len(doc.get('resources') or [])} resources, {len(doc.get('outputs') or {})} outputs")


def plan_import(current: dict[str, Any] | None, incoming: dict[str, Any], force_serial: int | None) -> ImportPlan:
    """What to write over `current` (None: no state) when importing `incoming` with `--force
    force_serial`; ImportRefused when the import could lose a state. Pure."""
    notes: list[str] = []
    if not is_empty(current):
        assert current is not None
        serial = current.get("serial")
        if force_serial is None:
            raise ImportRefused(f"a state is already there ({describe(current)}); to replace it, check it with "
                                f"`tfcontroller state pull` and pass --force {serial}")
        if force_serial != serial:
            raise ImportRefused(f"--force {force_serial} does not name the current state: its serial is {serial} "
                                f"(it changed since you looked?); check it with `tfcontroller state pull` "
                                f"and pass --force {serial}")
        if current.get("lineage") != incoming["lineage"]:
            notes.append(f"replaced a state of another lineage ({current.get('lineage')})")
    document = dict(incoming)
    old_serial = current.get("serial") if current is not None else None
    if isinstance(old_serial, int) and old_serial >= incoming["serial"]:
        document["serial"] = old_serial + 1
        notes.append(f"serial raised from {incoming['serial']} to {document['serial']} so that plans made "
                     "against the previous state are stale")
    return ImportPlan(document, tuple(notes))


def encode_state(doc: dict[str, Any]) -> bytes:
    """The Secret value Terraform's kubernetes backend stores: gzip of the JSON document."""
    raw = gzip.compress(json.dumps(doc, indent=2).encode() + b"\n")
    if len(raw) > MAX_COMPRESSED_BYTES:
        raise ImportRefused(f"the state is {len(raw)} bytes compressed, above the {MAX_COMPRESSED_BYTES} bytes "
                            "one Secret holds; push it with `terraform state push` through the kubernetes backend")
    return raw


# ---- reading and writing the cluster ----------------------------------------------------------------

@dataclass(frozen=True)
class StoredState:
    """The state Secret as found: its parts (main first) and the decoded document (None: no state)."""

    parts: tuple[dict[str, Any], ...]
    document: dict[str, Any] | None

    @property
    def secret(self) -> dict[str, Any] | None:
        return self.parts[0] if self.parts else None


def read_stored_state(kube: KubeClient, namespace: str, secret_name: str) -> StoredState:
    """The state Secret (and its parts) with its document; a Secret with no `tfstate` yet has no document.
    A state that does not decode raises StateFileError: it is never silently treated as empty."""
    parts = tuple(state_parts(kube, namespace, secret_name))
    raw = b"".join(base64.b64decode((p.get("data") or {}).get(STATE_KEY) or "") for p in parts)
    if not raw:
        return StoredState(parts, None)
    try:
        doc = json.loads(gzip.decompress(raw))
    except (OSError, EOFError, ValueError) as exc:
        raise StateFileError(f"state Secret {namespace}/{secret_name} does not decode ({exc})") from None
    return StoredState(parts, doc if isinstance(doc, dict) else None)


def check_unlocked(kube: KubeClient, namespace: str, lease_name: str) -> None:
    lock = read_lock(kube, namespace, lease_name)
    if lock is not None:
        raise ImportRefused(f"the state is locked ({lock.id}, {lock.operation or 'operation unknown'} by "
                            f"{lock.who or 'unknown'}): a run is using it; try again when it has finished")


def write_state(kube: KubeClient, stored: StoredState, doc: dict[str, Any], *, namespace: str, secret_name: str,
                labels: dict[str, str], owner: str, owner_uid: str) -> None:
    """Write `doc` as the whole state: into the existing Secret (conditional on its resourceVersion: a
    Conflict propagates) or a new one with the backend's labels; further parts of a larger previous
    state are removed afterwards, since the backend would append them to the new one."""
    data = {STATE_KEY: base64.b64encode(encode_state(doc)).decode()}
    owner_notes = {ANNOTATION_STATE_OWNER: owner, ANNOTATION_STATE_OWNER_UID: owner_uid}
    if stored.secret is None:
        kube.create(SECRETS, {"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "data": data, "metadata": {
            "name": secret_name, "namespace": namespace, "labels": labels,
            "annotations": {"encoding": "gzip", **owner_notes}}})
        return
    secret = json.loads(json.dumps(stored.secret))
    meta = secret["metadata"]
    meta["labels"] = {**labels, **(meta.get("labels") or {})}
    meta["annotations"] = {**(meta.get("annotations") or {}), "encoding": "gzip", **owner_notes}
    secret["data"] = data
    kube.replace(SECRETS, secret)
    for part in reversed(stored.parts[1:]):
        try:
            kube.delete(SECRETS, part["metadata"]["name"], namespace)
        except NotFound:
            pass
