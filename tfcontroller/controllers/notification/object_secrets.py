"""What a delivery needs from the object an event is about, read at send time: the values of the Secrets
its spec references (for the scrubber) and the readable diff of its pending plan.

Secrets (design.md §4.7: sensitive values never leave Secrets): every value of every Secret the object
reads — a Terraform's `varsFrom`/`envFrom` of kind Secret, `env[].valueFrom.secretKeyRef`, and the Secret
its outputs are written to (`writeOutputsToSecret`: sensitive outputs land there); a ManifestSet's
`substituteFrom` of kind Secret — through kube/values.ValueReader, the reader the Terraform inputs and
the ManifestSet substitution use, with each JSON value's elements (api/redact.secret_forms). Read at each
delivery, so a rotated value is scrubbed too; a missing Secret contributes nothing.

Diff: the plan-view Secret (terraform/plan_view_store.py) is read only for a PlanPending about to be sent,
and used only when it is the view of *that* plan id (a newer plan's view would describe other changes).
The lines are masked already (plan_view.py masks before storing). Kept per (uid, plan id) in a small cache:
several rules and retries of one plan read it once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from tfcontroller.api.redact import secret_forms
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.errors import ApiError
from tfcontroller.kube.values import SECRET_KIND, ValueReader
from tfcontroller.notify.event import Line, lines_of
from tfcontroller.terraform.plan_view import diff_lines
from tfcontroller.terraform.plan_view_store import PlanViewNotFoundError, load_plan_view

Obj = dict[str, Any]
_DIFF_CACHE = 256


def referenced_secrets(obj: Obj) -> list[str]:
    """The names of the Secrets an object's spec reads (in spec order, without duplicates). Pure."""
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    spec = spec or {}
    names: list[str] = []
    for key in ("varsFrom", "envFrom", "substituteFrom"):
        for src in spec.get(key) or []:
            if isinstance(src, dict) and src.get("kind") == SECRET_KIND and src.get("name"):
                names.append(str(src["name"]))
    for item in spec.get("env") or []:
        ref = ((item or {}).get("valueFrom") or {}).get("secretKeyRef") if isinstance(item, dict) else None
        if isinstance(ref, dict) and ref.get("name"):
            names.append(str(ref["name"]))
    for var in spec.get("vars") or []:
        ref = ((var or {}).get("valueFrom") or {}).get("secretKeyRef") if isinstance(var, dict) else None
        if isinstance(ref, dict) and ref.get("name"):
            names.append(str(ref["name"]))
    outputs = spec.get("writeOutputsToSecret")
    if isinstance(outputs, dict) and outputs.get("name"):
        names.append(str(outputs["name"]))
    return list(dict.fromkeys(names))


class ObjectReader:
    def __init__(self, kube: KubeClient) -> None:
        self.kube = kube
        self._lock = threading.Lock()
        self._diffs: OrderedDict[tuple[str, str], tuple[Line, ...]] = OrderedDict()

    def secrets(self, obj: Obj) -> list[str]:
        """The secret values to scrub from any message about `obj`."""
        if not obj:
            return []
        meta = obj.get("metadata") or {}
        reader = ValueReader(self.kube, str(meta.get("namespace") or "default"))
        for name in referenced_secrets(obj):
            try:
                reader.data(SECRET_KIND, name)
            except ApiError:
                continue  # unreadable: nothing to scrub from it, and nothing of it can be in our texts either
        return [form for value in reader.secrets for form in secret_forms(value)]

    def pending_diff(self, obj: Obj, plan_id: str) -> tuple[Line, ...]:
        """The readable diff of `plan_id` when it is the object's pending plan; () when it is not, or when
        no view is stored for it."""
        meta = obj.get("metadata") or {}
        plan = (obj.get("status") or {}).get("plan") or {}
        if not plan_id or plan.get("pending") != plan_id:
            return ()
        key = (str(meta.get("uid") or ""), plan_id)
        with self._lock:
            cached = self._diffs.get(key)
        if cached is not None:
            return cached
        workspace = str((obj.get("spec") or {}).get("workspace") or "default")
        try:
            view = load_plan_view(self.kube, str(meta.get("namespace")), str(meta.get("name")), workspace, plan_id)
        except (PlanViewNotFoundError, ValueError, ApiError):
            return ()
        lines = lines_of(diff_lines(view))
        with self._lock:
            self._diffs[key] = lines
            while len(self._diffs) > _DIFF_CACHE:
                self._diffs.popitem(last=False)
        return lines
