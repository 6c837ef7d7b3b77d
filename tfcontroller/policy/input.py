"""The document a policy sees as `input`: the plan's masked `terraform show -json`, and who planned it.

Policies come from a repository the platform team — or a tenant — controls, and their messages end up in
status, Events and mail: so they see the plan exactly as `plan show --json` shows it, with every value
Terraform marks sensitive replaced by `(sensitive)` and every input variable's value by `(hidden)` (one
masking rule, api/show_mask.py). Beside Terraform's keys (`resource_changes`, `resource_drift`,
`prior_state`, `planned_values`, `configuration`, `variables`, `output_changes`, …) the input carries
`input.tfcontroller`: the object's namespace, name, labels, the source revision, the plan id and whether
the plan remediates drift or destroys (docs/policy.md "The input").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tfcontroller.api.redact import secrets_in_order
from tfcontroller.api.show_mask import conceal, mask_show_json, sensitive_texts


@dataclass(frozen=True)
class PolicyMeta:
    namespace: str
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    revision: str = ""
    plan_id: str = ""
    is_drift: bool = False
    is_destroy: bool = False

    def to_input(self) -> dict[str, Any]:
        return {"namespace": self.namespace, "name": self.name, "labels": dict(self.labels),
                "revision": self.revision, "planId": self.plan_id, "isDrift": self.is_drift,
                "isDestroy": self.is_destroy}


def policy_input(show_json: Mapping[str, Any], meta: PolicyMeta, secrets: Iterable[str] = ()) -> dict[str, Any]:
    """The masked `show -json` document plus `tfcontroller` (the caller's document is not modified).
    Besides Terraform's markers, any string containing a value marked sensitive elsewhere in the document,
    or one of `secrets` (the texts the controller read from Secrets and sealed values, as for the readable
    plan), is concealed: a provider may repeat a sensitive value in an attribute it does not mark."""
    source = dict(show_json)
    hidden = secrets_in_order([*sensitive_texts(source), *secrets])
    doc: dict[str, Any] = conceal(mask_show_json(source), hidden)
    doc["tfcontroller"] = meta.to_input()
    return doc
