"""The tour's default approval (`Tour.approve_with_cli`, what `make demo` does without --wait-for-approval)
against the dev cluster, with the real `tfcontroller approve` and the real kubectl: an approval from anywhere
counts, so the tour approves with the CLI only when nobody approved the plan yet.

- nobody approved: the tour runs `tfcontroller approve --plan <id>`, which writes the annotation and the
  approved-by claim via `cli`;
- the plan was approved already (a bare `kubectl annotate`, as from another terminal; the dashboard writes
  the same annotation): the tour leaves it as it is (no CLI run, no claim added: the controller will record
  that approval as a kubectl annotate) and says so;
- another plan replaced the one the tour showed: the step fails saying so, nothing is approved.
(The browser's approval with --wait-for-approval is tests/e2e/test_demo.py; the pure rule beside it is
tests/unit/dev/demo/test_approval.py.)
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.devcluster import install_crds
from tests.support.cli import OTHER_PLAN_ID, PLAN_ID, terraform
from tfcontroller.api.constants import ANNOTATION_APPROVE_PLAN, ANNOTATION_APPROVED_BY
from tfcontroller.api.history import VIA_CLI, annotation_manager, parse_approver_annotation
from tfcontroller.dev.cluster import DevCluster
from tfcontroller.dev.demo.progress import Progress
from tfcontroller.dev.demo.services import DemoError
from tfcontroller.dev.demo.tour import NS, Tour
from tfcontroller.dev.smtp_sink import SMTPSink
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import TERRAFORMS

NAME = "app-stack-prod"


@pytest.fixture
def kube(cluster: DevCluster) -> Iterator[KubeClient]:
    client = KubeClient.load(cluster.kubeconfig)
    install_crds(client)
    client.create(TERRAFORMS, terraform(NAME))
    client.patch_status(TERRAFORMS, NAME, NS, {"plan": {"pending": PLAN_ID, "add": 9}})
    yield client
    client.close()


@pytest.fixture
def tour(cluster: DevCluster, kube: KubeClient, tmp_path: Path) -> Tour:
    """The tour as `_run` builds it, for its approval step only: nothing of it is started."""
    return Tour(tmp_path, kube, Path(cluster.kubeconfig), "http://127.0.0.1:9", Progress(kube, NS, time.monotonic()),
                SMTPSink(tmp_path / "mail"), tmp_path / "checkout", tmp_path / "git")


def metadata(kube: KubeClient) -> dict[str, Any]:
    return dict(kube.get(TERRAFORMS, NAME, NS)["metadata"])


def test_nobody_approved_so_the_tour_approves_with_the_cli(tour: Tour, kube: KubeClient,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    tour.approve_with_cli(NAME, PLAN_ID)
    meta = metadata(kube)
    assert meta["annotations"][ANNOTATION_APPROVE_PLAN] == PLAN_ID
    claim = parse_approver_annotation(meta["annotations"][ANNOTATION_APPROVED_BY])
    assert claim is not None and claim[0] == PLAN_ID and claim[1].via == VIA_CLI, claim
    assert f"$ tfcontroller approve {NAME} --plan {PLAN_ID}" in capsys.readouterr().out


def test_an_approval_from_elsewhere_is_left_as_it_is(cluster: DevCluster, tour: Tour, kube: KubeClient,
                                                     tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = {**os.environ, "KUBECONFIG": cluster.kubeconfig, "KUBECACHEDIR": str(tmp_path / "kube-cache")}
    subprocess.run(["kubectl", "annotate", f"terraform/{NAME}", "-n", NS, f"{ANNOTATION_APPROVE_PLAN}={PLAN_ID}",
                    "--overwrite"], env=env, check=True, capture_output=True, timeout=60)
    tour.approve_with_cli(NAME, PLAN_ID)
    meta = metadata(kube)
    assert meta["annotations"][ANNOTATION_APPROVE_PLAN] == PLAN_ID
    assert ANNOTATION_APPROVED_BY not in meta["annotations"], "the tour approved a second time, as itself"
    assert annotation_manager(meta, ANNOTATION_APPROVE_PLAN) == "kubectl-annotate"
    out = capsys.readouterr().out
    assert "is approved already" in out and "$ tfcontroller approve" not in out, out


def test_a_plan_replaced_before_the_approval_fails_the_step_saying_so(tour: Tour, kube: KubeClient) -> None:
    kube.patch_status(TERRAFORMS, NAME, NS, {"plan": {"pending": OTHER_PLAN_ID, "add": 9}})
    with pytest.raises(DemoError, match=f"replaced by plan {OTHER_PLAN_ID}"):
        tour.approve_with_cli(NAME, PLAN_ID)
    assert ANNOTATION_APPROVE_PLAN not in (metadata(kube).get("annotations") or {})
