"""The run API against the dev cluster: real TokenReviews of Pod-bound projected tokens, real Pods on the
dev node, real TLS (the client trusts the run API's CA only), the runner's `RunChannel` as client.

Covers: the run's own Pod delivers a result and plan (`wait` and `delivered` return it) and fetches the
offered plan; every pretender is refused with the status and reason that say why — another Pod of the same
namespace and ServiceAccount (label), a token of another audience, a token bound to a deleted Pod, a
Pod of another namespace, no token, a token not bound to a Pod, a body too large; a repeated delivery keeps
the first; a runner that delivers while the server is down succeeds once a restarted server (same Secret,
same CA) is up, and gives up at its deadline when none comes; the TLS material is reused across restarts
and renewed for a new advertise host with the same CA."""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography import x509

from tests.support.polling import wait_for
from tfcontroller.api.run_protocol import APPLY, PLAN, SUCCEEDED, PlanSummary, RunResult
from tfcontroller.dev.cluster import DevCluster
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.errors import AlreadyExists
from tfcontroller.kube.resources import NAMESPACES, PODS, SECRETS, SERVICEACCOUNTS
from tfcontroller.runner.channel import ChannelError, RunChannel
from tfcontroller.terraform.run_api import LABEL_RUN_ID, RUNNER_AUDIENCE, RunApi
from tfcontroller.terraform.run_api_tls import SECRET_NAME, make_ca

CONTROLLER_NS = "tfcontroller-system"
NS = "team-a"
OTHER_NS = "team-b"
SA = "tfcontroller-runner"
RUN = "0123456789abcdef"


@dataclass
class Env:
    cluster: DevCluster
    kube: KubeClient
    api: RunApi
    tmp: Path

    def channel(self, token: str | None, api: RunApi | None = None) -> RunChannel:
        api = api or self.api
        token_file = self.tmp / f"token-{time.monotonic_ns()}"
        token_file.write_text(token or "")
        return RunChannel(api.url, api.ca_pem, token_file)

    def pod(self, name: str, namespace: str = NS, run_id: str | None = RUN) -> dict[str, Any]:
        labels = {LABEL_RUN_ID: run_id} if run_id else {}
        return self.kube.create(PODS, {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {"serviceAccountName": SA, "restartPolicy": "Never", "automountServiceAccountToken": False,
                     "terminationGracePeriodSeconds": 0,
                     "containers": [{"name": "runner", "image": "tfcontroller:dev", "command": ["sleep", "600"]}]},
        })

    def token(self, pod: dict[str, Any], audiences: list[str] | None = None) -> str:
        meta = pod["metadata"]
        token, _ = self.cluster.tokens.issue(meta["namespace"], SA, audiences=audiences or [RUNNER_AUDIENCE],
                                             expiration_seconds=600,
                                             bound_object=("Pod", meta["name"], meta["uid"]))
        return token

    def ca_file(self, api: RunApi | None = None) -> Path:
        path = self.tmp / "run-api-ca.crt"
        path.write_text((api or self.api).ca_pem)
        return path


def _namespace(kube: KubeClient, name: str) -> None:
    try:
        kube.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    except AlreadyExists:
        pass


@pytest.fixture
def env(dev_cluster: DevCluster, kube: KubeClient, tmp_path: Path) -> Iterator[Env]:
    for ns in (CONTROLLER_NS, NS, OTHER_NS):
        _namespace(kube, ns)
    for ns in (NS, OTHER_NS):
        kube.create(SERVICEACCOUNTS, {"apiVersion": "v1", "kind": "ServiceAccount",
                                      "metadata": {"name": SA, "namespace": ns}})
    api = RunApi(kube, namespace=CONTROLLER_NS, listen="127.0.0.1:0")
    api.start()
    try:
        yield Env(dev_cluster, kube, api, tmp_path)
    finally:
        api.stop()


def _result(run_id: str = RUN, operation: str = PLAN, reason: str = "PlanGenerated") -> RunResult:
    return RunResult(run_id=run_id, operation=operation, outcome=SUCCEEDED, reason=reason,
                     plan=PlanSummary(has_changes=True, add=1, digest="sha256:" + "0" * 64))


def _refused(excinfo: pytest.ExceptionInfo[ChannelError], status: int, *words: str) -> None:
    exc = excinfo.value
    assert exc.status == status and exc.final, str(exc)
    for word in words:
        assert word in str(exc), str(exc)


def test_the_runs_pod_delivers_its_result_and_plan(env: Env) -> None:
    pod = env.pod(f"tfrun-{RUN}")
    channel = env.channel(env.token(pod))
    assert env.api.delivered(RUN) is None
    assert env.api.wait(RUN, 0.05) is None
    channel.deliver(RUN, _result(), b"PLAN\x00bytes", deadline=time.monotonic() + 30)
    got = env.api.wait(RUN, 5)
    assert got is not None and got.result == _result() and got.plan == b"PLAN\x00bytes"
    assert env.api.delivered(RUN) == got
    env.api.forget(RUN)
    assert env.api.delivered(RUN) is None


def test_a_waiter_is_woken_by_the_delivery(env: Env) -> None:
    pod = env.pod(f"tfrun-{RUN}")
    channel = env.channel(env.token(pod))
    waited: list[Any] = []
    waiter = threading.Thread(target=lambda: waited.append(env.api.wait(RUN, 60)))
    waiter.start()
    channel.deliver(RUN, _result(), None, deadline=time.monotonic() + 30)
    waiter.join(30)
    assert waited and waited[0].result.reason == "PlanGenerated" and waited[0].plan is None


def test_runners_deliver_concurrently(env: Env) -> None:
    runs = [f"{i:016x}" for i in range(1, 7)]
    channels = {run: env.channel(env.token(env.pod(f"tfrun-{run}", run_id=run))) for run in runs}
    failures: list[BaseException] = []

    def deliver(run: str) -> None:
        try:
            channels[run].deliver(run, _result(run), run.encode() * 10_000, deadline=time.monotonic() + 60)
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=deliver, args=(run,)) for run in runs]
    for thread in threads:
        thread.start()
    for run in runs:
        got = env.api.wait(run, 60)
        assert got is not None and got.plan == run.encode() * 10_000 and got.result.run_id == run
    for thread in threads:
        thread.join(30)
    assert not failures, failures


def test_an_apply_run_fetches_the_offered_plan(env: Env) -> None:
    pod = env.pod(f"tfrun-{RUN}")
    channel = env.channel(env.token(pod))
    with pytest.raises(ChannelError) as not_yet:  # not bound to this controller: maybe not taken over yet
        channel.fetch_plan(RUN, deadline=time.monotonic() + 2)
    assert not_yet.value.status == 503 and not not_yet.value.final and "PlanNotOfferedYet" in str(not_yet.value)
    env.api.expect(RUN, namespace=NS)
    with pytest.raises(ChannelError) as missing:  # bound and no plan: final
        channel.fetch_plan(RUN, deadline=time.monotonic() + 10)
    _refused(missing, 404, "PlanNotOffered")
    plan = bytes(range(256)) * 1000
    env.api.offer_plan(RUN, plan)
    assert channel.fetch_plan(RUN) == plan


def test_a_fetch_that_comes_before_the_take_over_gets_the_plan_offered_after_it(
        env: Env, caplog: pytest.LogCaptureFixture) -> None:
    """A runner Pod whose controller was killed asks the new one, which adopts the run a moment later."""
    pod = env.pod(f"tfrun-{RUN}")
    channel = env.channel(env.token(pod))
    got: list[bytes] = []
    fetcher = threading.Thread(target=lambda: got.append(channel.fetch_plan(RUN, deadline=time.monotonic() + 60)))
    fetcher.start()
    caplog.set_level(logging.WARNING, logger="tfcontroller.runner.channel")
    wait_for(lambda: "PlanNotOfferedYet" in caplog.text, 30, "the runner refused once and asking again")
    env.api.expect(RUN, namespace=NS, pod_name=pod["metadata"]["name"], pod_uid=pod["metadata"]["uid"])
    env.api.offer_plan(RUN, b"the plan")
    fetcher.join(60)
    assert got == [b"the plan"]


def test_a_run_fetches_the_offered_artifact_and_no_other_pod_may(env: Env, tmp_path: Path) -> None:
    """The controller's cached artifact (a GitRepository that is gone) is served to the run's own Pod only."""
    pod = env.pod(f"tfrun-{RUN}")
    channel = env.channel(env.token(pod))
    with pytest.raises(ChannelError) as missing:
        channel.fetch_artifact(RUN, deadline=time.monotonic() + 10)
    _refused(missing, 404, "ArtifactNotOffered")
    archive = tmp_path / "cached.tar.gz"
    archive.write_bytes(bytes(range(256)) * 100)
    env.api.offer_artifact(RUN, archive)
    assert channel.fetch_artifact(RUN) == archive.read_bytes()
    intruder = env.pod("intruder", run_id=None)
    with pytest.raises(ChannelError) as refused:
        env.channel(env.token(intruder)).fetch_artifact(RUN)
    _refused(refused, 403, "RunIdMismatch")
    env.api.forget(RUN)
    with pytest.raises(ChannelError) as forgotten:
        channel.fetch_artifact(RUN, deadline=time.monotonic() + 10)
    _refused(forgotten, 404, "ArtifactNotOffered")


def test_a_repeated_delivery_keeps_the_first(env: Env) -> None:
    pod = env.pod(f"tfrun-{RUN}")
    channel = env.channel(env.token(pod))
    channel.deliver(RUN, _result(reason="PlanGenerated"), b"first", deadline=time.monotonic() + 30)
    channel.deliver(RUN, _result(reason="NoChanges"), b"second", deadline=time.monotonic() + 30)
    got = env.api.delivered(RUN)
    assert got is not None and got.result.reason == "PlanGenerated" and got.plan == b"first"


def test_another_pod_of_the_namespace_and_service_account_is_refused(env: Env) -> None:
    env.pod(f"tfrun-{RUN}")
    for name, label in (("intruder", None), ("other-run", "fedcba9876543210")):
        intruder = env.pod(name, run_id=label)
        channel = env.channel(env.token(intruder))
        with pytest.raises(ChannelError) as refused:  # a plan of MBs: the refusal, not a reset connection
            channel.deliver(RUN, _result(), b"evil" * 1_000_000, deadline=time.monotonic() + 30)
        _refused(refused, 403, "RunIdMismatch", LABEL_RUN_ID, f"{NS}/{name}")
        env.api.offer_plan(RUN, b"secret plan")
        with pytest.raises(ChannelError) as refused:
            channel.fetch_plan(RUN)
        _refused(refused, 403, "RunIdMismatch")
    assert env.api.delivered(RUN) is None


def test_a_token_of_another_audience_is_refused(env: Env) -> None:
    pod = env.pod(f"tfrun-{RUN}")
    for audiences in (["https://kubernetes.default.svc.cluster.local"], ["tfcontroller.io/other"]):
        channel = env.channel(env.token(pod, audiences=audiences))
        with pytest.raises(ChannelError) as refused:
            channel.deliver(RUN, _result(), None, deadline=time.monotonic() + 30)
        _refused(refused, 401, "TokenInvalid")


def test_a_token_not_bound_to_a_pod_is_refused(env: Env) -> None:
    env.pod(f"tfrun-{RUN}")
    token, _ = env.cluster.tokens.issue(NS, SA, audiences=[RUNNER_AUDIENCE], expiration_seconds=600)
    with pytest.raises(ChannelError) as refused:
        env.channel(token).deliver(RUN, _result(), None, deadline=time.monotonic() + 30)
    _refused(refused, 401, "TokenNotPodBound")


def test_a_token_of_a_deleted_pod_is_refused(env: Env) -> None:
    pod = env.pod(f"tfrun-{RUN}")
    channel = env.channel(env.token(pod))
    env.kube.delete(PODS, pod["metadata"]["name"], NS)
    wait_for(lambda: env.kube.get_or_none(PODS, pod["metadata"]["name"], NS) is None, 30, "the Pod to be gone")
    with pytest.raises(ChannelError) as refused:
        channel.deliver(RUN, _result(), None, deadline=time.monotonic() + 30)
    assert refused.value.status in (401, 403) and refused.value.final, str(refused.value)
    # a Pod re-created under the same name is another Pod: the old token stays refused
    env.pod(f"tfrun-{RUN}")
    with pytest.raises(ChannelError) as refused:
        channel.deliver(RUN, _result(), None, deadline=time.monotonic() + 30)
    assert refused.value.status in (401, 403), str(refused.value)


def test_a_pod_of_another_namespace_is_refused(env: Env) -> None:
    env.pod(f"tfrun-{RUN}")
    env.api.expect(RUN, namespace=NS)
    # even labelled with the run id (which it should never learn), a Pod elsewhere is not the runner
    elsewhere = env.pod(f"tfrun-{RUN}", namespace=OTHER_NS)
    with pytest.raises(ChannelError) as refused:
        env.channel(env.token(elsewhere)).deliver(RUN, _result(), b"evil", deadline=time.monotonic() + 30)
    _refused(refused, 403, "NamespaceMismatch", NS, OTHER_NS)
    unlabelled = env.pod("job", namespace=OTHER_NS, run_id=None)
    env.api.forget(RUN)
    with pytest.raises(ChannelError) as refused:
        env.channel(env.token(unlabelled)).fetch_plan(RUN)
    _refused(refused, 403, "RunIdMismatch")


def test_an_expected_pod_name_and_uid_bind_the_run_to_one_pod(env: Env) -> None:
    runner = env.pod(f"tfrun-{RUN}")
    twin = env.pod(f"tfrun-{RUN}-2")  # the same label, a Pod the controller did not record for the run
    env.api.expect(RUN, namespace=NS, pod_name=runner["metadata"]["name"], pod_uid=runner["metadata"]["uid"])
    with pytest.raises(ChannelError) as refused:
        env.channel(env.token(twin)).deliver(RUN, _result(), None, deadline=time.monotonic() + 30)
    _refused(refused, 403, "PodMismatch")
    env.channel(env.token(runner)).deliver(RUN, _result(), None, deadline=time.monotonic() + 30)
    assert env.api.delivered(RUN) is not None


def test_plain_https_clients_verify_the_server_with_its_ca_and_need_a_token(
        env: Env, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="tfcontroller.terraform.run_api")
    pod = env.pod(f"tfrun-{RUN}")
    url = f"{env.api.url}/v1/runs/{RUN}/plan"
    session = requests.Session()
    session.trust_env = False
    with pytest.raises(requests.exceptions.SSLError):  # the system trust store does not know this CA
        session.get(url, timeout=10)
    ca = str(env.ca_file())
    answer = session.get(url, verify=ca, timeout=10)
    assert answer.status_code == 401 and answer.json()["reason"] == "TokenMissing"
    answer = session.get(url, verify=ca, timeout=10, headers={"Authorization": "Bearer not-a-token"})
    assert answer.status_code == 401 and answer.json()["reason"] == "TokenInvalid"
    assert "not-a-token" not in answer.text and "not-a-token" not in caplog.text
    assert "401 TokenInvalid" in caplog.text and "401 TokenMissing" in caplog.text  # the refusals are logged
    env.api.offer_plan(RUN, b"the plan")
    auth = {"Authorization": f"Bearer {env.token(pod)}"}
    answer = session.get(url, verify=ca, timeout=10, headers=auth)
    assert answer.status_code == 200 and answer.content == b"the plan"
    assert answer.headers["Content-Type"] == "application/octet-stream"
    body = {"result": _result(operation=APPLY, reason="ApplySucceeded").to_dict(), "plan": None}
    put = session.put(f"{env.api.url}/v1/runs/{RUN}/result", verify=ca, timeout=10, headers=auth,
                      data=json.dumps(body))
    assert put.status_code == 204, put.text
    for method, path, status in (("PUT", f"/v1/runs/{RUN}/plan", 405), ("GET", "/v1/other", 404),
                                 ("GET", f"/v1/runs/{RUN}/result", 405)):
        assert session.request(method, env.api.url + path, verify=ca, timeout=10, headers=auth).status_code == status


def test_a_runner_trusts_only_the_ca_it_was_given(env: Env, kube: KubeClient) -> None:
    """A server the given CA does not vouch for (another CA, or the run API under an address its
    certificate lacks) is refused at once: else the runner would hand its result to whoever listens."""
    pod = env.pod(f"tfrun-{RUN}")
    token_file = env.tmp / "token"
    token_file.write_text(env.token(pod))
    unnamed = RunApi(kube, namespace=CONTROLLER_NS, listen="127.0.0.2:0")  # not among the certificate's names
    unnamed.start()
    try:
        other_ca, _ = make_ca(datetime.now(UTC))
        for url, ca in ((env.api.url, other_ca), (f"https://127.0.0.2:{unnamed.port}", env.api.ca_pem)):
            started = time.monotonic()
            with pytest.raises(ChannelError) as refused:
                RunChannel(url, ca, token_file).deliver(RUN, _result(), None, deadline=started + 30)
            assert refused.value.final and "not vouched for" in str(refused.value), str(refused.value)
            assert time.monotonic() - started < 10
    finally:
        unnamed.stop()
    assert env.api.delivered(RUN) is None and unnamed.delivered(RUN) is None


def test_a_malformed_delivery_is_refused_naming_the_field(env: Env) -> None:
    pod = env.pod(f"tfrun-{RUN}")
    auth = {"Authorization": f"Bearer {env.token(pod)}"}
    url = f"{env.api.url}/v1/runs/{RUN}/result"
    good = _result().to_dict()
    cases: list[tuple[Any, str]] = [
        (b"not json", "BodyInvalid"),
        ({"result": {**good, "run_id": "fedcba9876543210"}, "plan": None}, "ResultInvalid"),
        ({"result": {**good, "outcome": "maybe"}, "plan": None}, "ResultInvalid"),
        ({"result": good, "plan": "***"}, "PlanInvalid"),
    ]
    for body, reason in cases:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        answer = requests.put(url, data=data, headers=auth, verify=str(env.ca_file()), timeout=10)
        assert answer.status_code == 400 and answer.json()["reason"] == reason, answer.text
    assert env.api.delivered(RUN) is None


def test_a_body_over_the_cap_is_refused(env: Env, kube: KubeClient) -> None:
    small = RunApi(kube, namespace=CONTROLLER_NS, listen="127.0.0.1:0", max_body=4096)
    small.start()
    try:
        pod = env.pod(f"tfrun-{RUN}")
        with pytest.raises(ChannelError) as refused:
            env.channel(env.token(pod), small).deliver(RUN, _result(), b"x" * 8192, deadline=time.monotonic() + 30)
        _refused(refused, 413, "BodyTooLarge")
        env.channel(env.token(pod), small).deliver(RUN, _result(), b"x" * 100, deadline=time.monotonic() + 30)
        assert small.delivered(RUN) is not None
    finally:
        small.stop()


def test_deliveries_beyond_what_the_controller_holds_wait_until_it_forgets(env: Env, kube: KubeClient) -> None:
    """The held deliveries are capped: one over the cap is 503 (retried by the runner) and goes through
    once the controller has forgotten a run it took."""
    tight = RunApi(kube, namespace=CONTROLLER_NS, listen="127.0.0.1:0", max_held=6000)
    tight.start()
    try:
        second = "fedcba9876543210"
        first_pod, second_pod = env.pod(f"tfrun-{RUN}"), env.pod(f"tfrun-{second}", run_id=second)
        env.channel(env.token(first_pod), tight).deliver(RUN, _result(), b"x" * 3000,
                                                          deadline=time.monotonic() + 30)
        late = env.channel(env.token(second_pod), tight)
        with pytest.raises(ChannelError) as backlogged:
            late.deliver(second, _result(second), b"y" * 3000, deadline=time.monotonic() + 1)
        assert backlogged.value.status == 503 and not backlogged.value.final
        assert "DeliveriesBacklogged" in str(backlogged.value)
        tight.forget(RUN)
        late.deliver(second, _result(second), b"y" * 3000, deadline=time.monotonic() + 30)
        got = tight.delivered(second)
        assert got is not None and got.plan == b"y" * 3000
    finally:
        tight.stop()


def test_a_runner_delivers_once_a_restarted_server_is_up(env: Env, kube: KubeClient,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    """The runner starts delivering while no server listens; a second RunApi on the same Secret (a new
    leader) comes up on the same address with the same CA, and the delivery goes through."""
    caplog.set_level(logging.WARNING, logger="tfcontroller.runner.channel")
    pod = env.pod(f"tfrun-{RUN}")
    channel = env.channel(env.token(pod))
    port, ca = env.api.port, env.api.ca_pem
    env.api.stop()
    errors: list[BaseException] = []

    def deliver() -> None:
        try:
            channel.deliver(RUN, _result(), b"plan", deadline=time.monotonic() + 60)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    runner = threading.Thread(target=deliver)
    runner.start()
    wait_for(lambda: "run API attempt" in caplog.text, 30, "a failed attempt while the server is down")
    restarted = RunApi(kube, namespace=CONTROLLER_NS, listen=f"127.0.0.1:{port}")
    restarted.start()
    try:
        assert restarted.ca_pem == ca
        got = restarted.wait(RUN, 60)
        runner.join(30)
        assert not errors, errors
        assert got is not None and got.plan == b"plan"
    finally:
        restarted.stop()


def test_a_runner_gives_up_at_its_deadline(env: Env) -> None:
    pod = env.pod(f"tfrun-{RUN}")
    channel = env.channel(env.token(pod))
    env.api.stop()
    started = time.monotonic()
    with pytest.raises(ChannelError) as failed:
        channel.deliver(RUN, _result(), None, deadline=started + 2)
    elapsed = time.monotonic() - started
    assert not failed.value.final and "cannot reach the run API" in str(failed.value)
    assert 2 <= elapsed < 10, elapsed


def test_the_token_file_is_read_again_on_every_attempt(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    """Projected tokens rotate: a runner whose token file is empty at first (being replaced) delivers once
    the file holds the token."""
    caplog.set_level(logging.WARNING, logger="tfcontroller.runner.channel")
    pod = env.pod(f"tfrun-{RUN}")
    token_file = env.tmp / "rotating-token"
    token_file.write_text("")
    channel = RunChannel(env.api.url, env.api.ca_pem, token_file)
    runner = threading.Thread(target=lambda: channel.deliver(RUN, _result(), None,
                                                             deadline=time.monotonic() + 60))
    runner.start()
    wait_for(lambda: "is empty" in caplog.text, 30, "an attempt with the empty token file")
    token_file.write_text(env.token(pod))
    assert env.api.wait(RUN, 60) is not None
    runner.join(30)


def test_the_tls_material_is_kept_and_renewed_with_the_same_ca(env: Env, kube: KubeClient) -> None:
    secret = kube.get(SECRETS, SECRET_NAME, CONTROLLER_NS)
    data = {k: base64.b64decode(v) for k, v in secret["data"].items()}
    assert set(data) == {"ca.crt", "ca.key", "tls.crt", "tls.key"}
    assert data["ca.crt"].decode() == env.api.ca_pem
    moved = RunApi(kube, namespace=CONTROLLER_NS, listen="127.0.0.1:0",
                   advertise_url="https://runs.example.test:8443")
    moved.start()
    try:
        assert moved.ca_pem == env.api.ca_pem and moved.url == "https://runs.example.test:8443"
        renewed = {k: base64.b64decode(v) for k, v in kube.get(SECRETS, SECRET_NAME, CONTROLLER_NS)["data"].items()}
        assert renewed["ca.key"] == data["ca.key"] and renewed["tls.crt"] != data["tls.crt"]
        cert = x509.load_pem_x509_certificate(renewed["tls.crt"])
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert "runs.example.test" in names.get_values_for_type(x509.DNSName)
        assert f"tfcontroller-runs.{CONTROLLER_NS}.svc" in names.get_values_for_type(x509.DNSName)
    finally:
        moved.stop()
