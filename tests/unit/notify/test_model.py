"""notify.model names the shape of terraform.drift's report without importing it (layer contract); this
checks that the real types still fit that shape and share the `(sensitive)` placeholder."""

from __future__ import annotations

from tfcontroller.notify import model
from tfcontroller.terraform import drift


def test_drift_types_fit_the_protocols() -> None:
    change = drift.AttributeChange("a", 1, 2)
    resource = drift.DriftedResource("x.y", "update", [change], "update")
    report = drift.DriftReport([resource])
    assert isinstance(change, model.AttributeChangeLike)
    assert isinstance(resource, model.DriftedResourceLike)
    assert isinstance(report, model.DriftReportLike)
    assert model.SENSITIVE == drift.SENSITIVE
    assert model.resource_count(1) == drift.resource_count(1) and model.resource_count(2) == drift.resource_count(2)
    assert model.summary(report) == report.summary_message()
    assert model.summary(drift.DriftReport([])) == drift.DriftReport([]).summary_message()
