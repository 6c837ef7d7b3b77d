"""The Terraform runner and run workspace against REAL terraform (terraform_data and local-exec only, local
backend): the init/plan/show/apply/output round trip, plan digest stability, timeout and cancellation
killing the whole process group, state-lock and stale-plan classification, missing variables and
configuration errors, environment isolation, the 0600 variables file, workspace cleanup, and Terraform
stopping gracefully by itself (state saved, lock released) when the controller running it is SIGKILLed."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from tests.support.paths import REPO_ROOT
from tests.support.polling import wait_for
from tests.support.processes import kill_all
from tfcontroller.terraform import processes
from tfcontroller.terraform.config import TerraformConfig, Timeouts
from tfcontroller.terraform.errors import (
    CancelledError,
    ConfigurationError,
    InitRequiredError,
    MissingVariablesError,
    StalePlanError,
    StateLockedError,
    TimeoutExpiredError,
    TransientError,
)
from tfcontroller.terraform.inspect import inspect_module, missing_required_variables
from tfcontroller.terraform.plan import human_readable, make_plan_id, plan_digest, summarize
from tfcontroller.terraform.processes import RUN_ENV
from tfcontroller.terraform.workspace import LocalBackend, Workspace

pytestmark = pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform not on PATH")

MODULE = '''
variable "greeting" { type = string }
variable "secret" {
  type      = string
  sensitive = true
  default   = "hunter22"
}
resource "terraform_data" "hello" {
  input = var.greeting
}
output "greeting" { value = terraform_data.hello.output }
output "secret" {
  value     = var.secret
  sensitive = true
}
'''

# A provisioner that signals it started, then waits for a release file (never longer than 60 s).
WAITING = '''
variable "started" { type = string }
variable "release" { type = string }
variable "value" {
  type    = string
  default = "a"
}
resource "terraform_data" "slow" {
  input = var.value
  provisioner "local-exec" {
    command = "touch '${var.started}'; i=0; while [ ! -f '${var.release}' ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done"
  }
}
'''


def group_gone(pgid: int) -> bool:
    """No process (zombies are reaped by init within moments) is left in the process group."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture
def workspaces(tmp_path: Path, tf_config: TerraformConfig) -> Iterator[Callable[..., Workspace]]:
    created: list[Workspace] = []

    def make(artifact: Path, variables: dict | None = None, *, state: Path | None = None,
             config: TerraformConfig | None = None, env: dict | None = None) -> Workspace:
        ws = Workspace.create(tmp_path / "runs", artifact, "mod", config=config or tf_config,
                              backend=LocalBackend(str(state or tmp_path / "terraform.tfstate")),
                              variables=variables or {}, env=env or {}, secrets=["hunter22"])
        created.append(ws)
        return ws

    yield make
    for ws in created:
        ws.cleanup(True)


def ready(ws: Workspace):  # noqa: ANN201 - a TerraformRunner after init (the default workspace)
    runner = ws.runner()
    runner.init()
    return runner


def test_round_trip_and_plan_id(make_artifact, workspaces) -> None:
    art = make_artifact({"mod/main.tf": MODULE})
    ws = workspaces(art, {"greeting": "hello"})
    runner = ready(ws)
    assert runner.version().terraform_version
    assert runner.validate() == []
    result = runner.plan(ws.plan_path)
    assert result.has_changes and (result.add, result.change, result.destroy) == (1, 0, 0)
    show = runner.show_json(ws.plan_path)
    summary = summarize(show)
    assert (summary.add, summary.change, summary.destroy) == (1, 0, 0)
    assert summary.creates_everything
    text = human_readable(show)
    assert "+ terraform_data.hello (create)" in text and "hunter22" not in text

    # Same module, same inputs, another run directory: the same plan id.
    twin = ready(workspaces(art, {"greeting": "hello"}, state=ws.root / "twin.tfstate"))
    twin.plan(twin.workdir.parent.parent / "plan.tfplan")
    twin_show = twin.show_json(twin.workdir.parent.parent / "plan.tfplan")
    pid = make_plan_id("main", "a" * 40, plan_digest(show))
    assert pid == make_plan_id("main", "a" * 40, plan_digest(twin_show))
    # A different change: a different id.
    other = ready(workspaces(art, {"greeting": "bonjour"}, state=ws.root / "other.tfstate"))
    other.plan(ws.root / "other.tfplan")
    assert make_plan_id("main", "a" * 40, plan_digest(other.show_json(ws.root / "other.tfplan"))) != pid

    runner.apply(ws.plan_path)
    outputs = runner.output_json()
    assert outputs["greeting"] == {"sensitive": False, "type": "string", "value": "hello"}
    assert outputs["secret"]["sensitive"] is True
    again = runner.plan(ws.root / "again.tfplan")
    assert not again.has_changes
    assert not summarize(runner.show_json(ws.root / "again.tfplan")).has_changes


def test_timeout_stops_the_process_group(make_artifact, workspaces, tf_config, tmp_path: Path) -> None:
    art = make_artifact({"mod/main.tf": WAITING})
    config = replace(tf_config, timeouts=Timeouts(apply=2.0, grace=5.0))
    started = tmp_path / "started"
    ws = workspaces(art, {"started": str(started), "release": str(tmp_path / "never")}, config=config)
    runner = ready(ws)
    runner.plan(ws.plan_path)
    with pytest.raises(TimeoutExpiredError) as err:
        runner.apply(ws.plan_path)
    assert err.value.reason == "TerraformTimedOut"
    assert started.exists()  # the provisioner really ran before it was stopped
    assert runner.last_pid is not None
    wait_for(lambda: group_gone(runner.last_pid), 10)  # nothing of the group survives, provisioner included


def test_cancel_from_another_thread(make_artifact, workspaces, tmp_path: Path) -> None:
    art = make_artifact({"mod/main.tf": WAITING})
    started = tmp_path / "started"
    ws = workspaces(art, {"started": str(started), "release": str(tmp_path / "never")})
    runner = ready(ws)
    runner.plan(ws.plan_path)
    canceller = threading.Thread(target=lambda: (wait_for(started.exists, 30), runner.cancel()))
    canceller.start()
    with pytest.raises(CancelledError):
        runner.apply(ws.plan_path)
    canceller.join()
    assert runner.last_pid is not None
    wait_for(lambda: group_gone(runner.last_pid), 10)
    with pytest.raises(CancelledError):  # a cancelled runner starts nothing more
        runner.output_json()


def test_state_locked_then_stale_plan(make_artifact, workspaces, tmp_path: Path) -> None:
    art = make_artifact({"mod/main.tf": WAITING})
    state = tmp_path / "shared.tfstate"
    started, release = tmp_path / "started", tmp_path / "release"
    first = workspaces(art, {"started": str(started), "release": str(release), "value": "one"}, state=state)
    second = workspaces(art, {"started": str(tmp_path / "s2"), "release": str(release), "value": "two"},
                        state=state)
    r1, r2 = ready(first), ready(second)
    r1.plan(first.plan_path)
    r2.plan(second.plan_path)  # made before the first apply: becomes stale once that apply lands
    errors: list[BaseException] = []

    def apply_first() -> None:
        try:
            r1.apply(first.plan_path)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    worker = threading.Thread(target=apply_first)
    worker.start()
    try:
        wait_for(started.exists, 30)
        with pytest.raises(StateLockedError) as err:
            r2.apply(second.plan_path)
        assert err.value.lock_id and len(err.value.lock_id) >= 8
        assert "@" in err.value.holder  # Terraform's user@host
        assert err.value.lock.operation == "OperationTypeApply"
        assert err.value.reason == "StateLocked" and err.value.after_seconds > 0
    finally:
        release.touch()
        worker.join(60)
    assert errors == []
    with pytest.raises(StalePlanError) as stale:
        r2.apply(second.plan_path)
    assert stale.value.reason == "PlanStale"


def test_missing_variables_before_and_from_terraform(make_artifact, workspaces) -> None:
    ws = workspaces(make_artifact({"mod/main.tf": MODULE}))
    assert missing_required_variables(inspect_module(ws.module_dir), []) == ["greeting"]
    runner = ready(ws)
    with pytest.raises(MissingVariablesError) as err:
        runner.plan(ws.plan_path)
    assert err.value.names == ["greeting"]


def test_configuration_error_has_file_and_line(make_artifact, workspaces) -> None:
    bad = 'resource "terraform_data" "x" {\n  input = 1\n  wrong = var.nope\n}\n'
    ws = workspaces(make_artifact({"mod/main.tf": "# ok\n", "mod/broken.tf": bad}))
    runner = ready(ws)
    with pytest.raises(ConfigurationError) as err:
        runner.validate()
    assert err.value.location == "broken.tf:3"
    assert "broken.tf:3" in err.value.message


def test_init_required_when_not_initialised(make_artifact, workspaces) -> None:
    ws = workspaces(make_artifact({"mod/main.tf": MODULE}), {"greeting": "x"})
    with pytest.raises(InitRequiredError):
        ws.runner().plan(ws.plan_path)


def test_module_cannot_read_controller_environment(make_artifact, workspaces, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_TOKEN", "controller-only-7f3a")
    dump = tmp_path / "env.txt"
    module = ('resource "terraform_data" "env" {\n  provisioner "local-exec" {\n'
              f'    command = "env > {dump}"\n  }}\n}}\n')
    ws = workspaces(make_artifact({"mod/main.tf": module}), env={"FROM_SPEC": "visible"})
    runner = ready(ws)
    runner.plan(ws.plan_path)
    runner.apply(ws.plan_path)
    seen = dict(line.split("=", 1) for line in dump.read_text().splitlines() if "=" in line)
    assert "SECRET_TOKEN" not in seen and "controller-only-7f3a" not in dump.read_text()
    assert seen["FROM_SPEC"] == "visible"
    assert seen["HOME"] == str(ws.home)
    assert seen["TF_DATA_DIR"] == str(ws.data_dir)
    assert not any(k.startswith("TF_LOG") for k in seen)


def test_variables_file_is_private_and_cleanup(make_artifact, workspaces, tf_config, tmp_path: Path) -> None:
    art = make_artifact({"mod/main.tf": MODULE})
    ws = workspaces(art, {"greeting": "hi", "secret": "s3cr3t-value"})
    assert stat.S_IMODE(ws.tfvars_path.stat().st_mode) == 0o600
    assert "s3cr3t-value" in ws.tfvars_path.read_text()
    assert ws.cleanup(success=True) and not ws.root.exists()

    keep = replace(tf_config, keep_failed_workspaces=True)
    kept = workspaces(art, {"greeting": "hi"}, config=keep)
    assert kept.cleanup(success=False) is False
    assert kept.root.exists() and not kept.tfvars_path.exists()  # kept for debugging, minus the variables
    assert kept.cleanup(success=True) and not kept.root.exists()


def test_secrets_scrubbed_from_real_errors(make_artifact, workspaces) -> None:
    module = ('resource "terraform_data" "fail" {\n  provisioner "local-exec" {\n'
              '    command = "echo token=hunter22; exit 3"\n  }\n}\n')
    ws = workspaces(make_artifact({"mod/main.tf": module}))  # the fixture declares "hunter22" secret
    runner = ready(ws)
    runner.plan(ws.plan_path)
    with pytest.raises(TransientError) as err:
        runner.apply(ws.plan_path)
    assert "exit status 3" in err.value.message  # the real failure is reported...
    text = err.value.message + err.value.stderr + "".join(d.detail for d in err.value.diagnostics)
    assert "hunter22" not in text  # ...without the secret


@pytest.mark.skipif(TerraformConfig.from_env().plugin_mirror_dir is None, reason="no provider mirror")
def test_providers_from_mirror_through_cache_are_links(make_artifact, workspaces, tf_config,
                                                       tmp_path: Path) -> None:
    module = 'terraform {\n  required_providers {\n    aws = { source = "hashicorp/aws" }\n  }\n}\n'
    config = replace(tf_config, plugin_cache_dir=tmp_path / "plugin-cache")
    ws = workspaces(make_artifact({"mod/main.tf": module}), config=config)
    ready(ws)  # offline: the CLI config lists only the mirror
    installed = list((ws.data_dir / "providers/registry.terraform.io/hashicorp/aws").glob("*/*"))
    assert installed and all(p.is_symlink() for p in installed)
    cached = list((tmp_path / "plugin-cache/registry.terraform.io/hashicorp/aws").glob("*/*"))
    assert cached and all(p.is_symlink() for p in cached)  # the cache links to the mirror, no copy
    assert all(Path(os.path.realpath(p)).is_relative_to(config.plugin_mirror_dir.resolve()) for p in installed)


def test_deep_run_directory_gets_a_short_private_tmpdir(make_artifact, tf_config, tmp_path: Path) -> None:
    """Provider plugins listen on a unix socket under TMPDIR (at most 107 bytes): a deep work dir must
    not break them, so its TMPDIR moves to a short private directory removed with the run."""
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    art = make_artifact({"mod/main.tf": MODULE})
    ws = Workspace.create(deep, art, "mod", config=tf_config, backend=LocalBackend(str(tmp_path / "s.tfstate")),
                          variables={"greeting": "hi"})
    tmp = Path(ws.env["TMPDIR"])
    assert len(str(tmp)) <= 80 and not tmp.is_relative_to(ws.root)
    assert stat.S_IMODE(tmp.stat().st_mode) == 0o700
    runner = ready(ws)
    runner.plan(ws.plan_path)
    assert ws.cleanup(success=True) and not tmp.exists()


def test_terraform_stops_gracefully_when_its_controller_is_killed(make_artifact, workspaces,
                                                                  tmp_path: Path) -> None:
    """Terraform leads its own session, so killing the controller's process group does not reach it; the
    kernel's parent-death SIGINT does: it stops the apply, saves the state and releases the lock, and
    output going to files (not pipes) keeps SIGPIPE from killing it half-way."""
    started, release = tmp_path / "started", tmp_path / "never"
    state = tmp_path / "terraform.tfstate"
    marker = f"t{os.getpid()}e"
    ws = workspaces(make_artifact({"mod/main.tf": WAITING}), {"started": str(started), "release": str(release)},
                    env={RUN_ENV: marker})
    ready(ws).plan(ws.plan_path)
    spec = tmp_path / "parent.json"
    spec.write_text(json.dumps({"dir": str(ws.module_dir), "env": ws.env, "plan": str(ws.plan_path)}))
    code = ("import json, sys; from pathlib import Path; from tfcontroller.terraform.config import TerraformConfig; "
            "from tfcontroller.terraform.runner import TerraformRunner; s = json.loads(Path(sys.argv[1]).read_text()); "
            "TerraformRunner(Path(s['dir']), s['env'], TerraformConfig.from_env()).apply(s['plan'])")
    parent = subprocess.Popen([sys.executable, "-c", code, str(spec)], start_new_session=True,
                              env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    try:
        wait_for(lambda: started.exists() or parent.poll() is not None, 60, "the apply to start")
        assert parent.poll() is None
        assert processes.run_alive(marker)
        os.killpg(parent.pid, signal.SIGKILL)  # the controller's group: not Terraform's own session
        parent.wait(10)
        wait_for(lambda: not processes.run_alive(marker), 120, "Terraform to stop by itself")
        assert not (tmp_path / ".terraform.tfstate.lock.info").exists()  # the lock was released
        saved = json.loads(state.read_text())
        assert [r["name"] for r in saved["resources"]] == ["slow"]  # what it created was saved (tainted)
        assert saved["resources"][0]["instances"][0].get("status") == "tainted"
    finally:
        kill_all(p.pid for p in processes.run_processes(marker))
