"""Argument lists of each Terraform command, the CLI configuration and the run environment, checked
without running Terraform."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tfcontroller.terraform import runner
from tfcontroller.terraform.config import TerraformConfig
from tfcontroller.terraform.errors import StallingError
from tfcontroller.terraform.workspace import KubernetesBackend, LocalBackend, build_env, hcl_string


def test_plan_args_default_and_flags() -> None:
    assert runner.plan_args("p.tfplan") == [
        "plan", "-input=false", "-json", "-no-color", "-detailed-exitcode", "-lock-timeout=0s", "-out=p.tfplan"]
    args = runner.plan_args(Path("/r/p"), destroy=True, refresh=False, lock_timeout=12.7)
    assert "-destroy" in args and "-refresh=false" in args and "-lock-timeout=12s" in args
    assert "-refresh-only" in runner.plan_args("p", refresh_only=True)
    with pytest.raises(ValueError):
        runner.plan_args("p", destroy=True, refresh_only=True)


def test_apply_uses_saved_plan_without_auto_approve() -> None:
    args = runner.apply_args("/r/plan.tfplan")
    assert args[0] == "apply" and args[-1] == "/r/plan.tfplan"
    assert "-auto-approve" not in args and "-input=false" in args and "-json" in args


def test_apply_reads_the_same_var_files_as_the_plan_before_the_plan_file() -> None:
    """An ephemeral variable is not in the saved plan: the apply needs the plan's `-var-file`s again, in
    the same order (review s19, finding 1)."""
    files = ["/r/vars/00-a.tfvars", "/r/vars/tfcontroller.tfvars.json"]
    args = runner.apply_args("/r/plan.tfplan", var_files=files)
    assert [a for a in args if a.startswith("-var-file=")] == [f"-var-file={f}" for f in files]
    assert args[-1] == "/r/plan.tfplan"
    assert [a for a in args if a.startswith("-var-file=")] == \
        [a for a in runner.plan_args("/r/p", var_files=files) if a.startswith("-var-file=")]
    for bad in ("relative.tfvars", "/r/a\nb"):
        with pytest.raises(ValueError):
            runner.apply_args("/r/plan.tfplan", var_files=[bad])


def test_other_commands() -> None:
    assert runner.version_args() == ["version", "-json"]
    assert runner.init_args()[:3] == ["init", "-input=false", "-json"]
    assert "-upgrade" in runner.init_args(upgrade=True)
    assert runner.show_args("x") == ["show", "-json", "-no-color", "x"]
    assert runner.output_args() == ["output", "-json", "-no-color"]
    assert runner.force_unlock_args("abc") == ["force-unlock", "-force", "-no-color", "abc"]
    with pytest.raises(ValueError):
        runner.force_unlock_args("-lock=false")


def test_cli_config_mirror_only_never_direct(tmp_path: Path) -> None:
    cfg = TerraformConfig(binary="terraform", plugin_mirror_dir=tmp_path / "mirror")
    data = json.loads(cfg.write_cli_config(tmp_path / "rc.json").read_text())
    assert data == {"provider_installation": [{"filesystem_mirror": [{"path": str(tmp_path / "mirror")}]}]}


def test_cli_config_with_cache_and_direct(tmp_path: Path) -> None:
    cfg = TerraformConfig(binary="terraform", plugin_cache_dir=tmp_path / "cache",
                          allow_direct_provider_downloads=True)
    data = json.loads(cfg.write_cli_config(tmp_path / "rc.json").read_text())
    assert data["plugin_cache_dir"] == str(tmp_path / "cache")
    assert data["plugin_cache_may_break_dependency_lock_file"] is True
    assert data["provider_installation"] == [{"direct": [{}]}]
    assert (tmp_path / "cache").is_dir()


def test_config_from_env_precedence(tmp_path: Path) -> None:
    env = {"TFCONTROLLER_TERRAFORM_BINARY": "/x/terraform", "TFCONTROLLER_PLUGIN_MIRROR": str(tmp_path)}
    cfg = TerraformConfig.from_env(env)
    assert cfg.binary == "/x/terraform" and cfg.plugin_mirror_dir == tmp_path
    cfg = TerraformConfig.from_env(env, binary="/flag/terraform", plugin_mirror_dir="/m")
    assert cfg.binary == "/flag/terraform" and cfg.plugin_mirror_dir == Path("/m")
    with pytest.raises(FileNotFoundError):
        TerraformConfig.from_env({"PATH": str(tmp_path)})


def test_env_is_allowlist_plus_user_env(tmp_path: Path) -> None:
    controller = {"PATH": "/usr/bin", "TZ": "UTC", "SECRET_TOKEN": "s3cr3t", "AWS_SECRET_ACCESS_KEY": "x",
                  "KUBERNETES_SERVICE_HOST": "10.0.0.1", "TF_LOG": "TRACE", "HOME": "/root"}
    env = build_env({"AWS_REGION": "eu-west-1", "TF_VAR_x": "1"}, home=tmp_path / "h", tmp=tmp_path / "t",
                    data_dir=tmp_path / "d", cli_config=tmp_path / "rc", controller_env=controller)
    assert env == {
        "PATH": "/usr/bin", "TZ": "UTC", "AWS_REGION": "eu-west-1", "TF_VAR_x": "1",
        "HOME": str(tmp_path / "h"), "TMPDIR": str(tmp_path / "t"), "TF_DATA_DIR": str(tmp_path / "d"),
        "TF_CLI_CONFIG_FILE": str(tmp_path / "rc"), "TF_IN_AUTOMATION": "1", "TF_INPUT": "0",
        "GIT_TERMINAL_PROMPT": "0",  # git never waits for a user name (issue 20)
    }
    in_cluster = build_env({}, home=tmp_path, tmp=tmp_path, data_dir=tmp_path, cli_config=tmp_path,
                           controller_env=controller, in_cluster=True)
    assert in_cluster["KUBERNETES_SERVICE_HOST"] == "10.0.0.1"


@pytest.mark.parametrize("name", ["TF_LOG", "TF_LOG_PATH", "HOME", "TF_CLI_ARGS_plan", "TF_DATA_DIR", "A-B"])
def test_env_refuses_reserved_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(StallingError):
        build_env({name: "x"}, home=tmp_path, tmp=tmp_path, data_dir=tmp_path, cli_config=tmp_path,
                  controller_env={})


def test_backend_override_hcl() -> None:
    hcl = KubernetesBackend(namespace="team-a", secret_suffix="web", config_path="/r/kube config").hcl()
    assert 'backend "kubernetes"' in hcl and 'secret_suffix = "web"' in hcl
    assert 'namespace = "team-a"' in hcl and 'config_path = "/r/kube config"' in hcl
    assert "in_cluster_config = true" in KubernetesBackend("a", "b").hcl()
    with pytest.raises(StallingError):
        KubernetesBackend(namespace='x" }', secret_suffix="b").hcl()
    assert 'backend "local"' in LocalBackend("/s/t.tfstate").hcl()


def test_hcl_string_is_literal() -> None:
    assert hcl_string('a"b\\c${x}%{y}') == '"a\\"b\\\\c$${x}%%{y}"'
