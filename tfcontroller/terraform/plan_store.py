"""The pending plan in Kubernetes: Secret `tfplan-<workspace>-<name>`, encrypted, chunked above 900 KiB.

Layout (secret_chunks.py, shared with the readable plan): the first chunk is in `tfplan-<workspace>-<name>`
(key `plan`), further chunks in `<that name>-0`, `-1`, … Every Secret is labelled with the Terraform's name, annotated with the plan id,
and owned by the Terraform (garbage-collected with it). The main Secret also records how many extra
chunks there are and which key encrypted the plan. It is written last, so a reader that finds it with
the expected plan id finds every chunk; the associated data binds the ciphertext to
`<namespace>/<name>/<plan id>`, so a plan copied to another object or swapped for another id does not
decrypt.

Beside the plan, the main Secret keeps what `terraform show -json` said about it (key `show`, gzip-compressed
JSON encrypted with its own associated data `<namespace>/<name>/<plan id>/show`), when it fits in the
main Secret: `tfcontroller plan show` then reads it instead of installing the providers and running
Terraform again (seconds for the aws provider's schema). A plan stored without it (too large, or stored by
an earlier version) is rendered by Terraform as before.

Encoding (pure, `encode_plan`/`decode_plan`): the whole plan is encrypted once (so the GCM tag
authenticates every byte, the chunk order and the count) and the ciphertext is cut into pieces of at most
PLAN_CHUNK_BYTES, below the 1 MiB Secret limit. The cipher is anything with `encrypt`/`decrypt` (and, to
store, `active_id`), in practice tfcontroller.crypto.aead.KeyRing; it is passed in because terraform and
crypto are sibling layers.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Sequence
from typing import Any, Protocol

from tfcontroller.api.constants import GROUP, PLAN_CHUNK_BYTES, tfplan_secret_name
from tfcontroller.kube.client import KubeClient
from tfcontroller.terraform.plan_view_store import delete_plan_view
from tfcontroller.terraform.secret_chunks import (
    ChunkedSecret,
    cut,
    delete_chunked,
    main_secret,
    owner_reference,
    plan_labels,
    read_chunks,
    write_chunks,
)

ANNOTATION_KEY_ID = f"{GROUP}/plan-key-id"
# How the plan's Terraform reached its state: a saved plan records the backend's configuration (in-cluster,
# or a kubeconfig path), and an apply elsewhere cannot reach the state with it (issue 15: a plan made in
# local or in-process mode with a kubeconfig file, applied in a runner Pod, fails on every try).
ANNOTATION_BACKEND = f"{GROUP}/plan-backend"
DATA_KEY = "plan"
SHOW_KEY = "show"
SECRET_DATA_LIMIT = 1000 * 1024  # the API server refuses a Secret above 1 MiB; room for metadata
LABEL_PLAN_PART = f"{GROUP}/plan-part"


class Cipher(Protocol):
    def encrypt(self, plaintext: bytes, aad: bytes | str) -> bytes: ...

    def decrypt(self, blob: bytes, aad: bytes | str) -> bytes: ...


class KeyRing(Cipher, Protocol):
    """A cipher that names the key it encrypts with (crypto.aead.KeyRing)."""

    @property
    def active_id(self) -> str: ...


def encode_plan(planbytes: bytes, cipher: Cipher, aad: bytes | str,
                chunk_bytes: int = PLAN_CHUNK_BYTES) -> list[bytes]:
    if chunk_bytes <= 0:
        raise ValueError("chunk_bytes must be positive")
    return cut(cipher.encrypt(planbytes, aad), chunk_bytes)


def decode_plan(chunks: Sequence[bytes], cipher: Cipher, aad: bytes | str) -> bytes:
    """Raises the cipher's error (DecryptionError) when a chunk is missing, reordered or altered."""
    return cipher.decrypt(b"".join(chunks), aad)


class PlanNotFoundError(Exception):
    """No stored plan with the expected id (deleted, or replaced by a newer plan)."""


def _aad(namespace: str, name: str, plan_id: str) -> str:
    return f"{namespace}/{name}/{plan_id}"


def encode_show(show: dict[str, Any], cipher: Cipher, aad: bytes | str) -> bytes:
    """`terraform show -json` of the plan, compressed and encrypted (it holds sensitive values as the plan does)."""
    return cipher.encrypt(gzip.compress(json.dumps(show, separators=(",", ":")).encode(), mtime=0), aad)


def decode_show(blob: bytes, cipher: Cipher, aad: bytes | str) -> dict[str, Any]:
    doc = json.loads(gzip.decompress(cipher.decrypt(blob, aad)))
    if not isinstance(doc, dict):
        raise ValueError("the stored plan rendering is not a JSON object")
    return doc


def _where(namespace: str, name: str, workspace: str) -> ChunkedSecret:
    return ChunkedSecret(namespace, name, workspace, tfplan_secret_name(workspace, name), LABEL_PLAN_PART, DATA_KEY)


def save_plan(kube: KubeClient, obj: dict[str, Any], workspace: str, plan_id: str, plan: bytes,
              keyring: KeyRing, chunk_bytes: int | None = None, show: dict[str, Any] | None = None,
              backend: str = "") -> int:
    """Store `plan` (and, when given and it fits, its `show -json` document) for the Terraform `obj`;
    returns the number of Secrets written. `backend` names the state backend configuration it was made
    with (see ANNOTATION_BACKEND)."""
    meta = obj["metadata"]
    ns, name = meta["namespace"], meta["name"]
    kwargs = {} if chunk_bytes is None else {"chunk_bytes": chunk_bytes}
    chunks = encode_plan(plan, keyring, _aad(ns, name, plan_id), **kwargs)
    extra = {}
    if show is not None:
        rendered = encode_show(show, keyring, _aad(ns, name, plan_id) + "/show")
        if len(rendered) + len(chunks[0]) <= SECRET_DATA_LIMIT * 3 // 4:  # base64 grows by a third
            extra[SHOW_KEY] = rendered
    return write_chunks(kube, _where(ns, name, workspace), chunks, plan_id=plan_id,
                        labels=plan_labels(name, workspace), owner=[owner_reference(obj)], main_data=extra,
                        main_annotations={ANNOTATION_KEY_ID: keyring.active_id,
                                          **({ANNOTATION_BACKEND: backend} if backend else {})})


def load_plan(kube: KubeClient, namespace: str, name: str, workspace: str, plan_id: str,
              keyring: Cipher, backend: str = "") -> bytes:
    """The plan bytes stored for `plan_id`; PlanNotFoundError when absent or another plan is stored, or
    (with `backend`) when it was made with another state backend configuration than the one that would
    apply it; DecryptionError when a chunk is missing, altered or bound to another object."""
    where = _where(namespace, name, workspace)
    main = main_secret(kube, where, plan_id)
    if main is None:
        raise PlanNotFoundError(f"no stored plan {plan_id}")
    made_with = (main["metadata"].get("annotations") or {}).get(ANNOTATION_BACKEND, "")
    if backend and made_with and made_with != backend:
        raise PlanNotFoundError(f"plan {plan_id} was made with the state backend at {made_with}, and this "
                                f"controller's runs reach the state at {backend}")
    chunks = read_chunks(kube, where, main, lambda i: PlanNotFoundError(f"chunk {i} of plan {plan_id} is missing"))
    return decode_plan(chunks, keyring, _aad(namespace, name, plan_id))


def load_show(kube: KubeClient, namespace: str, name: str, workspace: str, plan_id: str,
              keyring: Cipher) -> dict[str, Any] | None:
    """The `show -json` document stored with plan `plan_id`, or None when the plan was stored without it;
    PlanNotFoundError when another plan (or none) is stored, DecryptionError when it does not decrypt."""
    main = main_secret(kube, _where(namespace, name, workspace), plan_id)
    if main is None:
        raise PlanNotFoundError(f"no stored plan {plan_id}")
    blob = base64.b64decode(((main.get("data") or {}).get(SHOW_KEY)) or "")
    return decode_show(blob, keyring, _aad(namespace, name, plan_id) + "/show") if blob else None


def delete_plan(kube: KubeClient, namespace: str, name: str, workspace: str, saved: int | None = None,
                saved_view: int | None = None) -> None:
    """Remove the stored plan and all its chunks (nothing pending any more), and its readable form with
    it (plan_view_store.py), so no caller can remove one and forget the other. `saved` / `saved_view`: the
    number of Secrets `save_plan` / `save_plan_view` returned in this same run (which removed every other
    chunk); those are deleted by name, without listing."""
    delete_chunked(kube, _where(namespace, name, workspace), saved)
    delete_plan_view(kube, namespace, name, workspace, saved=saved_view)
