"""The policy metrics (issue 18) the Terraform controller records per evaluation: names, labels, a denial
counted twice (by result and in the denials counter), the time in the histogram."""

from __future__ import annotations

from tfcontroller.runtime.metrics import ManagerMetrics


def test_policy_metrics() -> None:
    metrics = ManagerMetrics()
    metrics.record_policy_evaluation("denied", 0.3)
    metrics.record_policy_evaluation("passed", 0.1)
    text = metrics.exposition().decode()
    assert 'tfcontroller_policy_evaluations_total{result="denied"} 1.0' in text
    assert 'tfcontroller_policy_evaluations_total{result="passed"} 1.0' in text
    assert "tfcontroller_policy_denials_total 1.0" in text
    assert "tfcontroller_policy_evaluation_seconds_count 2.0" in text
