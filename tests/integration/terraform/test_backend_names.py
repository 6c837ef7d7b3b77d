"""Contract test: `api.statenames.backend_problems` says "refused" exactly when real `terraform init`
(Terraform's kubernetes backend, against the dev cluster) refuses a workspace + secret suffix, and the
default suffix of every kind of object name is accepted. The rules are unit-tested on plain strings in
tests/unit/api/test_statenames.py; this ties them to the real backend (numeric tails, an int64 overflow
Terraform lets through, label-length limits, dots)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tfcontroller.api.statenames import backend_problems, default_secret_suffix
from tfcontroller.dev.cluster import DevCluster
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import SECRETS

MAIN_TF = 'resource "terraform_data" "this" {\n  input = "x"\n}\n'


def _init(root: Path, cluster: DevCluster, workspace: str, suffix: str) -> subprocess.CompletedProcess[str]:
    work = root / f"{workspace}-{suffix}"[:100]
    work.mkdir()
    (work / "main.tf").write_text(MAIN_TF)
    (work / "backend.tf").write_text(
        'terraform {\n  backend "kubernetes" {\n'
        f'    secret_suffix = "{suffix}"\n    namespace = "default"\n    config_path = "{cluster.kubeconfig}"\n'
        "  }\n}\n")
    env = {"PATH": os.environ.get("PATH", os.defpath), "HOME": str(work), "TF_IN_AUTOMATION": "1",
           "TF_INPUT": "0", "CHECKPOINT_DISABLE": "1", "TF_DATA_DIR": str(work / ".terraform")}
    if workspace != "default":
        env["TF_WORKSPACE"] = workspace
    return subprocess.run(["terraform", "init", "-no-color", "-input=false"], cwd=work, env=env,
                          capture_output=True, text=True, timeout=120)


def test_backend_rules_match_terraform(dev_cluster: DevCluster, kube: KubeClient, tmp_path: Path) -> None:
    cases = [("default", "app"), ("default", "vpc-1"), ("default", "sbx-390"), ("default", "a-1b"),
             ("default", "my.app"), ("default", "a-9223372036854775807"), ("default", "a-9223372036854775808"),
             ("default", "s" * 64), ("w" * 63, "app")]
    verdicts = {}
    for workspace, suffix in cases:
        done = _init(tmp_path, dev_cluster, workspace, suffix)
        verdicts[(workspace, suffix)] = (done.returncode == 0, not backend_problems(workspace, suffix),
                                         done.stderr[-300:])
    assert {k: v[:2] for k, v in verdicts.items()} == {k: (v[1], v[1]) for k, v in verdicts.items()}, verdicts
    assert not verdicts[("default", "vpc-1")][0] and "-<number>" in verdicts[("default", "vpc-1")][2]
    names = {s["metadata"]["name"] for s in kube.list_all(SECRETS, "default")[0]}
    assert "tfstate-default-app" in names and "tfstate-default-vpc-1" not in names


def test_default_suffix_accepted_for_every_kind_of_name(dev_cluster: DevCluster, tmp_path: Path) -> None:
    for name in ("vpc-1", "sbx-390", "my.app-2", "n" * 70, "long-name-" * 8 + "7"):
        suffix = default_secret_suffix(name)
        done = _init(tmp_path, dev_cluster, "default", suffix)
        assert done.returncode == 0, (name, suffix, done.stderr[-500:])
