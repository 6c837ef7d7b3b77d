"""What a delivery needs from the object an event is about, read at send time: the values of the Secrets
its spec references (for the scrubber) and the readable diff of its pending plan.

Secrets (design.md §4.7: sensitive values never leave Secrets): every value of every Secret the object
reads as input — a Terraform's `varsFrom`/`envFrom` of kind Secret, `env[].valueFrom.secretKeyRef`,
`vars[].valueFrom.secretKeyRef`, `cliConfigSecretRef` and `fileMappings[].secretKeyRef` (with the parts of
such a file that look secret on their own, terraform/run_files.file_secret_forms: a `.netrc` password, a
`credentials` token, a key's lines); a ManifestSet's `substituteFrom` of kind Secret — through
kube/values.ValueReader, the reader the Terraform inputs and the ManifestSet substitution use, with each
JSON value's elements (api/redact.secret_forms).
From the Secret its outputs are written to (`writeOutputsToSecret`) only the *sensitive* outputs' values
(the names the Terraform controller records in `status.sensitiveOutputs`; every value while that list is
not recorded yet): a non-sensitive output is public (it is shown by `tfcontroller outputs`), and it is
often a short name or a number ("3", the object's own name) whose scrub would mangle any text. Read at
each delivery, so a rotated value is scrubbed too; a missing Secret contributes nothing (it holds no value
that could be in a text). A Secret that exists but cannot be read now (403, 429, 5xx, a timeout) is not
"nothing to scrub": `secrets` raises ScrubUnavailable and the caller sends nothing about the object until a
read succeeds (review 2, finding 4) — a message is never sent scrubbed of only some of the values.

Objects gone before their entries are delivered: the rule controller scrubs each entry's stored record when
it is queued (with the values of that moment, `SCRUBBED` marks it), so that what is sent after the object
and its spec are gone is scrubbed too; an entry whose queue-time scrub could not be made is not sent once
the object is gone (nothing is left to scrub it with) and expires with the object's other entries.

Diff: the plan-view Secret (terraform/plan_view_store.py) is read only for a PlanPending about to be sent,
and used only when it is the view of *that* plan id (a newer plan's view would describe other changes).
The lines are masked already (plan_view.py masks before storing). Kept per (uid, plan id) in a small cache:
several rules and retries of one plan read it once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from tfcontroller.api.redact import secret_forms
from tfcontroller.api.terraform import renamed_outputs
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.errors import ApiError
from tfcontroller.kube.values import SECRET_KIND, ValueReader, read_values
from tfcontroller.notify.event import Line, lines_of
from tfcontroller.terraform.plan_view import diff_lines
from tfcontroller.terraform.plan_view_store import PlanViewNotFoundError, load_plan_view
from tfcontroller.terraform.run_files import file_secret_forms

Obj = dict[str, Any]
_DIFF_CACHE = 256
SCRUB_UNAVAILABLE = "ScrubUnavailable"


class ScrubUnavailableError(Exception):
    """A Secret the object references exists (or may) but could not be read: the message cannot be
    scrubbed now. Retryable (the read may succeed later); the message names the Secret and the API
    answer, never a value."""

    reason = SCRUB_UNAVAILABLE


def referenced_secrets(obj: Obj) -> list[str]:
    """The names of the Secrets an object's spec reads or writes (in spec order, without duplicates). Pure."""
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
    names += [name for name, _key, _path in run_file_keys(obj)]
    outputs = spec.get("writeOutputsToSecret")
    if isinstance(outputs, dict) and outputs.get("name"):
        names.append(str(outputs["name"]))
    return list(dict.fromkeys(names))


def run_file_keys(obj: Obj) -> list[tuple[str, str, str]]:
    """(Secret name, key, file path) of what a Terraform's `cliConfigSecretRef` and `fileMappings` read (issue
    20: files a run gets from Secrets, whose secret parts — a `.netrc` password, a `credentials` token, a
    key's lines — are scrubbed on their own, terraform/run_files.file_secret_forms). Pure."""
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    spec = spec or {}
    found: list[tuple[str, str, str]] = []
    cli = spec.get("cliConfigSecretRef")
    if isinstance(cli, dict) and cli.get("name"):
        found.append((str(cli["name"]), str(cli.get("key") or ""), ""))
    for mapping in spec.get("fileMappings") or []:
        ref = mapping.get("secretKeyRef") if isinstance(mapping, dict) else None
        if isinstance(ref, dict) and ref.get("name"):
            found.append((str(ref["name"]), str(ref.get("key") or ""), str(mapping.get("path") or "")))
    return found


def run_file_forms(obj: Obj, name: str, data: Mapping[str, str]) -> list[str]:
    """The secret parts of each value of Secret `name` when the object maps it as a run file (every key: the
    whole value is scrubbed anyway, and a part only joins when it looks secret, so public lines never do)."""
    paths = {key: path for secret, key, path in run_file_keys(obj) if secret == name}
    if not paths:
        return []
    return [form for key, value in data.items() for form in file_secret_forms(value, paths.get(key, ""))]


def outputs_secret(obj: Obj) -> str:
    """The name of the Secret a Terraform writes its outputs to ("" when none). Pure."""
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    outputs = (spec or {}).get("writeOutputsToSecret")
    return str(outputs["name"]) if isinstance(outputs, dict) and outputs.get("name") else ""


def sensitive_output_values(obj: Obj, data: Mapping[str, str]) -> list[str]:
    """The values of the outputs Secret `data` that are secret: those of the outputs the Terraform's status
    lists as sensitive (`status.sensitiveOutputs`, names only); every value while that list is absent (not
    recorded yet: scrub too much rather than leak). Pure."""
    status = obj.get("status") if isinstance(obj.get("status"), dict) else {}
    names = (status or {}).get("sensitiveOutputs")
    if not isinstance(names, list):
        return list(data.values())
    renamed = renamed_outputs(((obj.get("spec") or {}) if isinstance(obj.get("spec"), dict) else {})
                              .get("writeOutputsToSecret"))
    wanted = {renamed.get(str(n), str(n)) for n in names}  # the Secret's keys (`output:key` renames)
    return [v for k, v in data.items() if k in wanted]


class ObjectReader:
    def __init__(self, kube: KubeClient) -> None:
        self.kube = kube
        self._lock = threading.Lock()
        self._diffs: OrderedDict[tuple[str, str], tuple[Line, ...]] = OrderedDict()

    def secrets(self, obj: Obj) -> list[str]:
        """The secret values to scrub from any message about `obj`. Raises ScrubUnavailableError when a
        referenced Secret cannot be read (a missing one is fine: it holds nothing)."""
        if not obj:
            return []
        meta = obj.get("metadata") or {}
        namespace = str(meta.get("namespace") or "default")
        reader = ValueReader(self.kube, namespace)
        outputs = outputs_secret(obj)
        values: list[str] = []
        for name in referenced_secrets(obj):
            try:
                if name == outputs and not self._is_input(obj, name):
                    values.extend(sensitive_output_values(obj, read_values(self.kube, namespace, SECRET_KIND,
                                                                           name) or {}))
                else:
                    values.extend(run_file_forms(obj, name, reader.data(SECRET_KIND, name) or {}))
            except ApiError as exc:
                raise ScrubUnavailableError(
                    f"cannot read Secret {namespace}/{name} to scrub the message ({exc.status} {exc.reason}); "
                    "not sent until it can be read") from None
        return [form for value in [*reader.secrets, *values] for form in secret_forms(value)]

    @staticmethod
    def _is_input(obj: Obj, name: str) -> bool:
        """Whether the spec also reads Secret `name` as an input (then every value of it is secret)."""
        return name in referenced_secrets({"spec": {k: v for k, v in (obj.get("spec") or {}).items()
                                                    if k != "writeOutputsToSecret"}})

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
