"""`tfcontroller logs` (cli/ops_logs.py), its own pure part: the explanation when no runner Pod is found
(the choice of Pods is tested with operations/run_logs.py)."""

from __future__ import annotations

from tfcontroller.cli.ops_logs import no_pods_message


def test_no_pods_message_says_where_the_output_is() -> None:
    text = no_pods_message("app", "team-a", None, [])
    assert 'no runner Pod of terraform "app" in namespace "team-a"' in text
    assert "object=team-a/app" in text and "--runner=local" in text and "--keep-failed-runners" in text
    run = no_pods_message("app", "team-a", "r9", ["r1", "r2"])
    assert "no runner Pod of run r9" in run and "runs with Pods: r1, r2" in run
    assert "no runner Pod of run r9" in no_pods_message("app", "team-a", "r9", [])
