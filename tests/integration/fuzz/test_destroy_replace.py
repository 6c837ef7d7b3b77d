"""`destroy: true` with replacements (issue 21, found by the Terraform fuzz): Terraform allows `-replace` only
in normal planning mode, so the pair failed every plan (TerraformFailed) and was re-planned every backoff.
Now the pair stalls before any Terraform run, naming what to remove: `spec.replace` (the CRD's CEL rule
refuses it too on API servers that evaluate CEL; the dev cluster does not), or the `tfcontroller.io/replace`
annotation on a destroying object; once the annotation is removed the destroy plan proceeds."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.terraform_helpers import SIMPLE_TF, Harness, condition
from tfcontroller.api.constants import ANNOTATION_REPLACE

pytestmark = pytest.mark.slow


def stalled(o: dict[str, Any]) -> bool:
    s = condition(o, "Stalled")
    return s is not None and s.status == "True"


def test_destroy_with_replacements_stalls_before_any_run(harness: Harness, git_file_remote) -> None:
    remote = git_file_remote("infra")
    harness.publish("src", remote.bare, remote.commit({"main.tf": SIMPLE_TF}))
    harness.create("in-spec", destroy=True, replace=["terraform_data.this"])
    harness.create("annotated", destroy=True)
    harness.annotate("annotated", ANNOTATION_REPLACE, "terraform_data.this@1")
    for name, field in (("in-spec", "spec.replace"), ("annotated", ANNOTATION_REPLACE)):
        obj = harness.reconcile_until(name, stalled, timeout=60, what=f"{name}: Stalled")
        ready = condition(obj, "Ready")
        assert ready is not None and ready.reason == "SpecValidationFailed", (name, ready)
        assert field in ready.message and "spec.destroy" in ready.message, (name, ready.message)
        assert condition(obj, "Planned") is None, f"{name}: a plan was made"
    harness.annotate("annotated", ANNOTATION_REPLACE, None)
    harness.reconcile_until("annotated", lambda o: (r := condition(o, "Ready")) is not None and r.status == "True",
                            timeout=90, what="Ready after the annotation is gone")
