"""Builders shared by the drift tests (pure rules in tests/unit/controllers/terraform/drift/test_schedule.py,
mail delivery in tests/integration/controllers/terraform/test_drift_mail.py): a Terraform object, an
applied status with drift fields, and a drift report of some addresses."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tfcontroller.api.terraform import Terraform
from tfcontroller.api.times import format_rfc3339
from tfcontroller.terraform.drift import AttributeChange, DriftedResource, DriftReport


def make_obj(*, uid: str = "u-1", spec: dict[str, Any] | None = None, status: dict[str, Any] | None = None,
             name: str = "demo") -> dict[str, Any]:
    base_spec = {"sourceRef": {"kind": "GitRepository", "name": "repo"}, "path": "./m", "interval": "10m"}
    base_spec.update(spec or {})
    return {
        "apiVersion": "tfcontroller.io/v1alpha1", "kind": "Terraform",
        "metadata": {"name": name, "namespace": "ns", "uid": uid, "generation": 3},
        "spec": base_spec,
        "status": status if status is not None else {},
    }


def applied_status(checked: dt.datetime | None = None, **drift: Any) -> dict[str, Any]:
    status: dict[str, Any] = {"lastAppliedRevision": "main@sha1:" + "a" * 40, "lastAppliedInputsDigest": "sha256:x"}
    if checked is not None:
        drift["lastCheckedAt"] = format_rfc3339(checked)
    if drift:
        status["drift"] = drift
    return status


def tf_of(obj: dict[str, Any]) -> Terraform:
    return Terraform.from_dict(obj)


def report(*addresses: str) -> DriftReport:
    return DriftReport([DriftedResource(a, "update", [AttributeChange("tags.env", "a", "b")], "update")
                        for a in sorted(addresses)])
