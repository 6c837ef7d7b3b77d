"""One document kept in a main Secret and numbered chunk Secrets: the layout the plan and its readable form share.

Why one module: the encrypted plan (plan_store.py) and the readable plan (plan_view_store.py) are both
cut into pieces below the 1 MiB Secret limit, labelled with the Terraform and workspace, annotated with
the plan id and owned by the Terraform; writing, reading and deleting the pieces is the same code for
both. Layout: the first piece in the main Secret `<main>` (key `data_key`), further pieces in `<main>-0`,
`<main>-1`, …, each labelled `<part_label>: <n>` (0 for the main Secret). The main Secret is written
last, so a reader that finds it with the expected plan id finds every chunk, and it records how many
chunks follow (ANNOTATION_PLAN_CHUNKS). Each document has its own part label, so deleting one's stale
chunks (by label) never touches the other's.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tfcontroller.api.constants import (
    ANNOTATION_PLAN_CHUNKS,
    ANNOTATION_PLAN_ID,
    API_VERSION,
    LABEL_MANAGED_BY,
    LABEL_TERRAFORM,
    LABEL_WORKSPACE,
    MANAGED_BY,
    TERRAFORM_KIND,
)
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.errors import AlreadyExists, NotFound
from tfcontroller.kube.resources import SECRETS


@dataclass(frozen=True)
class ChunkedSecret:
    """Where one chunked document of Terraform `name` lives."""

    namespace: str
    name: str  # the Terraform's name (label LABEL_TERRAFORM)
    workspace: str
    main: str  # the main Secret's name; chunk i is `<main>-<i>`
    part_label: str  # labels each Secret with its part number (0: the main Secret)
    data_key: str

    def chunk(self, index: int) -> str:
        return f"{self.main}-{index}"

    @property
    def selector(self) -> str:
        return f"{LABEL_TERRAFORM}={self.name},{LABEL_WORKSPACE}={self.workspace}"


def cut(blob: bytes, chunk_bytes: int) -> list[bytes]:
    """`blob` in pieces of at most `chunk_bytes` (one empty piece for an empty blob). Pure."""
    if chunk_bytes <= 0:
        raise ValueError("chunk_bytes must be positive")
    return [blob[i: i + chunk_bytes] for i in range(0, len(blob), chunk_bytes)] or [b""]


def write_chunks(kube: KubeClient, where: ChunkedSecret, chunks: list[bytes], *, plan_id: str,
                 labels: dict[str, str], owner: list[dict[str, Any]],
                 main_data: dict[str, bytes] | None = None, main_annotations: dict[str, str] | None = None) -> int:
    """Write the chunks after the first, then the main Secret (first chunk, `main_data`, the chunk count),
    then remove chunks a larger earlier document left. Returns the number of Secrets written."""
    for i, chunk in enumerate(chunks[1:]):
        kube.upsert_secret(where.namespace, where.chunk(i), {where.data_key: chunk},
                           labels={**labels, where.part_label: str(i + 1)},
                           annotations={ANNOTATION_PLAN_ID: plan_id}, owner_references=owner)
    _write_secret(kube, where.namespace, where.main, {where.data_key: chunks[0], **(main_data or {})},
                  labels={**labels, where.part_label: "0"},
                  annotations={ANNOTATION_PLAN_ID: plan_id, ANNOTATION_PLAN_CHUNKS: str(len(chunks) - 1),
                               **(main_annotations or {})},
                  owner=owner)
    delete_extra_chunks(kube, where, keep=len(chunks) - 1)
    return len(chunks)


def _write_secret(kube: KubeClient, ns: str, name: str, data: dict[str, bytes], *, labels: dict[str, str],
                  annotations: dict[str, str], owner: list[dict[str, Any]]) -> None:
    """Create the Secret, or replace the one that exists. Usually none does (an applied or replaced plan
    is deleted), so creating first costs one request where a read-then-write upsert costs two."""
    try:
        kube.create(SECRETS, {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                              "metadata": {"name": name, "namespace": ns, "labels": labels,
                                           "annotations": annotations, "ownerReferences": owner},
                              "data": {k: base64.b64encode(v).decode() for k, v in data.items()}}, ns)
    except AlreadyExists:
        kube.upsert_secret(ns, name, data, labels=labels, annotations=annotations, owner_references=owner)


def main_secret(kube: KubeClient, where: ChunkedSecret, plan_id: str | None) -> dict[str, Any] | None:
    """The main Secret when it holds plan `plan_id` (any plan when None); None otherwise."""
    main = kube.get_or_none(SECRETS, where.main, where.namespace)
    annotations = ((main or {}).get("metadata") or {}).get("annotations") or {}
    if main is None or (plan_id is not None and annotations.get(ANNOTATION_PLAN_ID) != plan_id):
        return None
    return main


def read_chunks(kube: KubeClient, where: ChunkedSecret, main: dict[str, Any],
                missing: Callable[[int], Exception]) -> list[bytes]:
    """Every piece of the document whose main Secret is `main`, in order; `missing(i)` is raised when
    chunk i is gone (the document was replaced or deleted meanwhile)."""
    data = main.get("data") or {}
    chunks = [base64.b64decode(data.get(where.data_key) or "")]
    count = int(((main.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION_PLAN_CHUNKS) or 0)
    for i in range(count):
        try:
            part = kube.read_secret_data(where.namespace, where.chunk(i))
        except NotFound:
            raise missing(i) from None
        chunks.append(part.get(where.data_key, b""))
    return chunks


def delete_chunked(kube: KubeClient, where: ChunkedSecret, saved: int | None = None) -> None:
    """Remove the main Secret and its chunks. `saved`: the number of Secrets `write_chunks` returned in this
    same run (which removed every other chunk): they are deleted by name, without listing."""
    _delete(kube, where.namespace, where.main)
    if saved is None:
        delete_extra_chunks(kube, where, keep=0)
        return
    for i in range(saved - 1):
        _delete(kube, where.namespace, where.chunk(i))


def delete_extra_chunks(kube: KubeClient, where: ChunkedSecret, keep: int) -> None:
    """Delete this document's chunk Secrets numbered above `keep` (found by its labels)."""
    items, _ = kube.list_all(SECRETS, where.namespace, label_selector=where.selector)
    for item in items:
        part = ((item.get("metadata") or {}).get("labels") or {}).get(where.part_label)
        if part is not None and part.isdigit() and int(part) > keep:
            _delete(kube, where.namespace, item["metadata"]["name"])


def _delete(kube: KubeClient, namespace: str, name: str) -> None:
    try:
        kube.delete(SECRETS, name, namespace)
    except NotFound:
        pass


def owner_reference(obj: dict[str, Any]) -> dict[str, Any]:
    """The Terraform `obj` as the controlling owner of a Secret (garbage-collected with it)."""
    meta = obj["metadata"]
    return {"apiVersion": obj.get("apiVersion", API_VERSION), "kind": obj.get("kind", TERRAFORM_KIND),
            "name": meta["name"], "uid": meta["uid"], "controller": True, "blockOwnerDeletion": False}


def plan_labels(name: str, workspace: str) -> dict[str, str]:
    """The labels of every Secret of a Terraform's pending plan and of its readable form."""
    return {LABEL_TERRAFORM: name, LABEL_WORKSPACE: workspace, LABEL_MANAGED_BY: MANAGED_BY}
