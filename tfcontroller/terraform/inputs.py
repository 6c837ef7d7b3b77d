"""What a Terraform's input references mean, for both readers of them: the controller (in-process runs)
and the runner (pod mode, with its own identity). One rule for both so that a run reads the same values
and fails with the same message wherever it runs.

`InputReader` selects from a Secret or ConfigMap what a `varsFrom`/`envFrom` entry (`ValuesFrom`) or an
`env[].valueFrom` (`KeyRef`) names; a missing object or key that is not optional is `VarsGenerationFailed`
(retried: the object may yet be created), naming the field and the object, never a value. `typed` decodes
a string for a variable of a non-string type.
"""

from __future__ import annotations

import json
from typing import Any

from tfcontroller.api.errors import WaitingError
from tfcontroller.api.refs import KeyRef, ValuesFrom
from tfcontroller.kube.values import ValueReader, ValueSource

VARS_FAILED = "VarsGenerationFailed"


class InputReader(ValueReader):
    """Reads Secrets/ConfigMaps of one namespace once per run (a varsFrom and an env may share one) and
    turns a missing object or key into `VarsGenerationFailed`, retried after `retry_after` seconds.
    A subclass overrides `read` to refuse differently (the runner turns Forbidden into Stalled)."""

    def __init__(self, kube: ValueSource, namespace: str, retry_after: float) -> None:
        super().__init__(kube, namespace)
        self.retry_after = retry_after

    def read(self, kind: str, name: str, where: str) -> dict[str, str] | None:
        """The object's key/values (None: it does not exist); `where` names the field for a refusal."""
        return self.data(kind, name)

    def missing(self, what: str) -> WaitingError:
        return WaitingError(VARS_FAILED, what, self.retry_after)

    def all_of(self, src: ValuesFrom, where: str) -> dict[str, str]:
        data = self.read(src.kind, src.name, where)
        if data is None:
            if src.optional:
                return {}
            raise self.missing(f"{where}: {src.kind} {self.namespace}/{src.name} not found")
        if src.keys is None:
            return dict(data)
        out = {}
        for k in src.keys:
            if k in data:
                out[k] = data[k]
            elif not src.optional:
                raise self.missing(f"{where}: key {k!r} not found in {src.kind} {self.namespace}/{src.name}")
        return out

    def one(self, ref: KeyRef, where: str) -> str | None:
        data = self.read(ref.kind, ref.name, where)
        if data is None or ref.key not in data:
            if ref.optional:
                return None
            what = (f"{ref.kind} {self.namespace}/{ref.name} not found" if data is None
                    else f"key {ref.key!r} not found in {ref.kind} {self.namespace}/{ref.name}")
            raise self.missing(f"{where}: {what}")
        return data[ref.key]


def typed(value: str, declared_type: str | None) -> Any:
    """A string from a Secret/ConfigMap for a variable of a non-string type is passed decoded when it is
    JSON (a ConfigMap can feed a list or a number); anything else is passed as the string it is."""
    if declared_type in (None, "string", "any"):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value
