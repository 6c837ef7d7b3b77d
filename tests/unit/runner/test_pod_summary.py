"""The runner Pod's termination summary (never a value) and its delivery deadline."""

from __future__ import annotations

from tfcontroller.api import run_protocol as rp
from tfcontroller.runner.pod import DELIVERY_RESERVE, deadline_from_env, summary


def test_summary_has_outcome_reason_plan_and_counts_but_no_message() -> None:
    result = rp.RunResult("r1", rp.PLAN, rp.SUCCEEDED, "PlanGenerated", "secret-ish message text",
                          plan=rp.PlanSummary(True, 1, 2, 3, "sha256:" + "0" * 64))
    text = summary(result, "", delivered=True)
    assert "outcome=succeeded" in text and "reason=PlanGenerated" in text and "add=1 change=2 destroy=3" in text
    assert "delivered=true" in text and "secret-ish" not in text


def test_summary_of_a_failed_undelivered_apply() -> None:
    result = rp.RunResult("r1", rp.APPLY, rp.FAILED, "ApplyFailed", "boom s3cret", rp.TRANSIENT, terraform_killed=True)
    text = summary(result, "main@sha1:abc", delivered=False)
    assert "plan=main@sha1:abc" in text and "failure=transient" in text and "terraform_killed=true" in text
    assert "delivered=false" in text and "s3cret" not in text


def test_deadline_keeps_a_reserve() -> None:
    assert deadline_from_env({"TFCONTROLLER_RUN_DEADLINE": "600"}, 100.0) == 100.0 + 600 - DELIVERY_RESERVE
    assert deadline_from_env({"TFCONTROLLER_RUN_DEADLINE": "1"}, 0.0) == DELIVERY_RESERVE
    assert deadline_from_env({}, 0.0) == 3600.0 - DELIVERY_RESERVE


def test_a_served_artifact_is_fetched_over_the_channel_and_checked_by_execute(tmp_path) -> None:
    """`artifact_url` = ARTIFACT_FROM_RUN_API: the runner GETs the artifact as its own Pod and hands execute
    a file URL of it, so the digest check of every download applies to it too."""
    from tfcontroller.api import run_protocol as rp
    from tfcontroller.runner.pod import PodPaths, run_in_pod

    class Channel:
        fetched: list[str] = []
        delivered: list[rp.RunResult] = []

        def fetch_artifact(self, run_id: str) -> bytes:
            self.fetched.append(run_id)
            return b"archive"

        def deliver(self, run_id, result, plan, *, deadline) -> None:  # noqa: ANN001
            self.delivered.append(result)

    seen: list[str] = []

    def execute(request: rp.RunRequest, exchange, env) -> rp.RunResult:  # noqa: ANN001
        seen.append(request.artifact_url)
        return rp.RunResult(request.run_id, request.operation, rp.SUCCEEDED, "PlanGenerated", "")

    request = rp.RunRequest(run_id="0123456789abcdef", operation=rp.PLAN, namespace="default", name="app",
                            artifact_url=rp.ARTIFACT_FROM_RUN_API, artifact_digest="sha256:" + "0" * 64)
    paths = PodPaths(tmp_path / "r", tmp_path / "ca", tmp_path / "t", tmp_path / "work", tmp_path / "term")
    channel = Channel()
    assert run_in_pod(request, paths, channel, None, deadline=0.0, execute=execute, say=lambda _: None) == 0
    assert channel.fetched == ["0123456789abcdef"]
    assert seen[0].startswith("file://") and (tmp_path / "work/run/served-artifact.tar.gz").read_bytes() == b"archive"

    class Failing(Channel):
        def fetch_artifact(self, run_id: str) -> bytes:
            raise OSError("refused")

    failing = Failing()
    failing.delivered = []
    run_in_pod(request, paths, failing, None, deadline=0.0, execute=execute, say=lambda _: None)
    assert failing.delivered[0].reason == "ArtifactFailed" and "refused" in failing.delivered[0].message
