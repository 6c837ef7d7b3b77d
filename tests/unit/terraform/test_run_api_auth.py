"""The run API's pure decisions: who a TokenReview says the caller is (401 otherwise) and whether that Pod
is the run's runner (403 otherwise), on plain dicts — each refusal's status and reason."""

from __future__ import annotations

from typing import Any

import pytest

from tfcontroller.terraform.run_api_auth import (
    EXTRA_POD_NAME,
    EXTRA_POD_UID,
    LABEL_RUN_ID,
    RUNNER_AUDIENCE,
    Refusal,
    RunExpectation,
    RunnerIdentity,
    authorise,
    identity_from_review,
)

RUN = "0123456789abcdef"
IDENTITY = RunnerIdentity("team-a", "runner", f"tfrun-{RUN}", "uid-1")


def _review(username: str = "system:serviceaccount:team-a:runner", *, pod: tuple[str, str] | None = (
        f"tfrun-{RUN}", "uid-1"), audiences: list[str] | None = None, **status: Any) -> dict[str, Any]:
    extra = {EXTRA_POD_NAME: [pod[0]], EXTRA_POD_UID: [pod[1]]} if pod else {}
    return {"authenticated": True, "audiences": audiences or [RUNNER_AUDIENCE],
            "user": {"username": username, "groups": ["system:serviceaccounts"], "extra": extra}, **status}


def _pod(uid: str = "uid-1", sa: str | None = "runner", labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": f"tfrun-{RUN}", "namespace": "team-a", "uid": uid,
                         "labels": {LABEL_RUN_ID: RUN} if labels is None else labels},
            "spec": {"serviceAccountName": sa} if sa else {}}


def test_a_pod_bound_service_account_token_names_the_pod() -> None:
    assert identity_from_review(_review()) == IDENTITY


@pytest.mark.parametrize(("status", "reason"), [
    (None, "TokenInvalid"),
    ({"authenticated": False, "error": "[invalid bearer token, token expired]"}, "TokenInvalid"),
    ({"user": {}, "error": "[invalid bearer token]"}, "TokenInvalid"),
    (_review(audiences=["https://kubernetes.default.svc"]), "TokenAudienceWrong"),
    (_review("dev-cluster-admin"), "NotAServiceAccount"),
    (_review("system:serviceaccount:team-a"), "NotAServiceAccount"),
    (_review("system:node:worker"), "NotAServiceAccount"),
    (_review(pod=None), "TokenNotPodBound"),
    (_review(pod=("", "uid-1")), "TokenNotPodBound"),
])
def test_what_is_not_a_runner_token_is_401(status: dict[str, Any] | None, reason: str) -> None:
    refusal = identity_from_review(status)
    assert isinstance(refusal, Refusal) and (refusal.status, refusal.reason) == (401, reason)


def test_the_runs_own_pod_is_authorised() -> None:
    assert authorise(IDENTITY, _pod(), RUN) is None
    assert authorise(IDENTITY, _pod(), RUN, RunExpectation("team-a")) is None
    assert authorise(IDENTITY, _pod(), RUN, RunExpectation("team-a", f"tfrun-{RUN}", "uid-1")) is None


def test_a_pod_without_service_account_name_runs_as_default() -> None:
    identity = RunnerIdentity("team-a", "default", f"tfrun-{RUN}", "uid-1")
    assert authorise(identity, _pod(sa=None), RUN) is None
    assert authorise(IDENTITY, _pod(sa=None), RUN).reason == "ServiceAccountMismatch"  # type: ignore[union-attr]


@pytest.mark.parametrize(("pod", "expected", "reason", "words"), [
    (None, None, "PodGone", "no longer exists"),
    (_pod(uid="uid-2"), None, "PodReplaced", "re-created"),
    (_pod(sa="builder"), None, "ServiceAccountMismatch", "builder"),
    (_pod(labels={}), None, "RunIdMismatch", "absent"),
    (_pod(labels={LABEL_RUN_ID: "fedcba9876543210"}), None, "RunIdMismatch", "fedcba9876543210"),
    (_pod(), RunExpectation("team-b"), "NamespaceMismatch", "team-b"),
    (None, RunExpectation("team-b"), "NamespaceMismatch", "team-b"),
    (_pod(), RunExpectation("team-a", "tfrun-other"), "PodMismatch", "tfrun-other"),
    (_pod(), RunExpectation("team-a", f"tfrun-{RUN}", "uid-0"), "PodReplaced", "uid"),
])
def test_a_pod_that_is_not_the_runner_is_403(pod: dict[str, Any] | None, expected: RunExpectation | None,
                                             reason: str, words: str) -> None:
    refusal = authorise(IDENTITY, pod, RUN, expected)
    assert refusal is not None and (refusal.status, refusal.reason) == (403, reason)
    assert words in refusal.message
