"""State locks (design.md §4.4): a lock held by a live run gives StateLocked with the holder and is
retried once released (the holder is a Terraform run by hand: a second object on the state would be
refused, §4.8); after `kill -9` of a controller process (and its Terraform children) in the
middle of an apply, a restarted controller releases the dead run's lock with an Event, completes the
apply, and nothing is created twice; `tfcontroller.io/force-unlock` releases a named lock. Then the
windows in which a run of ours could hold a lock nobody can attribute: a command started before its
run is recorded, Terraform killed under a live controller, a recovery postponed by an early failure,
records of several dead runs, leftovers (plugins) mistaken for a live run. The crash loop itself is in
test_terraform_crash_loop.py."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
from pathlib import Path

import pytest

from tests.support.controllers import free_port
from tests.support.holds import Hold, HoldServer
from tests.support.processes import kill_all
from tests.support.terraform_helpers import (
    HOLD_TF,
    NS,
    SIMPLE_TF,
    Harness,
    condition,
    kill_controller,
    processes_under,
    ready_reason,
    start_controller_process,
    wait_for,
)
from tfcontroller.api import conditions as c
from tfcontroller.api.times import format_rfc3339
from tfcontroller.controllers.terraform import TerraformReconciler
from tfcontroller.controllers.terraform.locks import RunRecord
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import GITREPOSITORIES, LEASES, TERRAFORMS
from tfcontroller.terraform.config import TerraformConfig, Timeouts
from tfcontroller.terraform.processes import RUN_ENV, run_processes, terraform_processes
from tfcontroller.terraform.state import LOCK_INFO_ANNOTATION, read_lock


def _outside_apply(harness: Harness, work, hold) -> subprocess.Popen:
    """`terraform apply` of HOLD_TF_REPLACED on app's state, run by hand (not by the controller: a second
    Terraform object on the same state is refused, design.md §4.8); it holds the lock until `release`."""
    work.mkdir()
    (work / "main.tf").write_text(HOLD_TF_REPLACED + 'terraform {\n  backend "kubernetes" {\n'
                                  '    secret_suffix = "app"\n    namespace = "default"\n'
                                  f'    config_path = "{harness.kubeconfig}"\n  }}\n}}\n')
    env = {"PATH": os.environ.get("PATH", os.defpath), "HOME": str(work), "TF_IN_AUTOMATION": "1",
           "CHECKPOINT_DISABLE": "1"}
    init = subprocess.run(["terraform", "init", "-input=false", "-no-color"], cwd=work, env=env,
                          capture_output=True, text=True, timeout=300)
    assert init.returncode == 0, init.stdout + init.stderr
    return subprocess.Popen(["terraform", "apply", "-auto-approve", "-input=false", "-no-color",
                             f"-var=hold={hold}"], cwd=work, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# HOLD_TF whose resource is replaced when `hold` changes, so that a run with a hold directory applies.
HOLD_TF_REPLACED = HOLD_TF.replace('input = "held"', 'input = "held"\n  triggers_replace = var.hold')


def _applied_app(harness: Harness, git_file_remote, holds: HoldServer) -> Hold:
    """Object `app` applied from HOLD_TF_REPLACED; returns the hold its runs (and an outside writer of the
    same state) wait on."""
    hold = holds.new()
    remote = git_file_remote("infra")
    harness.publish("src", remote.bare, remote.commit({"main.tf": HOLD_TF_REPLACED}))
    harness.create("app")
    harness.reconcile_until("app", lambda o: ready_reason(o) == "True/ApplySucceeded", what="first apply")
    return hold


@pytest.mark.runner_modes
def test_lock_held_by_a_live_run_gives_state_locked(harness: Harness, git_file_remote, tmp_path,
                                                    holds: HoldServer) -> None:
    hold = _applied_app(harness, git_file_remote, holds)

    outside = _outside_apply(harness, tmp_path / "outside", hold)  # another writer of the same state
    try:
        wait_for(lambda: hold.started(), 60, "the other run to take the lock")
        harness.annotate("app", "tfcontroller.io/replan", "1")
        obj = harness.reconcile("app")
        assert ready_reason(obj) == "False/StateLocked"
        assert condition(obj, c.STATE_LOCKED).status == "True"
        assert condition(obj, c.RECONCILING) is not None  # retried, not stalled
        lock = obj["status"]["lock"]
        assert lock["id"] and "@" in lock["holder"]
        assert lock["id"] in condition(obj, c.READY).message
    finally:
        hold.release()
        assert outside.wait(60) == 0
    obj = harness.reconcile_until("app", lambda o: ready_reason(o).startswith("True/"), what="app after unlock")
    assert condition(obj, c.STATE_LOCKED) is None and "lock" not in obj["status"]
    assert hold.done() == 1


@pytest.mark.runner_modes
def test_lock_of_a_killed_controller_is_released_and_the_apply_completes(harness: Harness, git_file_remote,
                                                                          tmp_path, holds: HoldServer) -> None:
    """A controller killed (kill -9) during an apply. Local mode: its runs die with it (Terraform and its
    provisioner too, as a crashed pod loses them): the next controller releases the lock, reports the
    interrupted apply and applies. Pod mode: the run goes on in its Pod and the next controller adopts it
    (docs/architecture.md "A restarted controller adopts a run in flight"): applied once, no lock released
    because none is left, no record. In both: created once."""
    pod = harness.options.runner_mode == "pod"
    hold = holds.new()
    remote = git_file_remote("infra")
    harness.publish("src", remote.bare, remote.commit({"main.tf": HOLD_TF}))
    harness.create("app", vars=[{"name": "hold", "value": str(hold)}])

    work = tmp_path / "proc-work"
    extra: dict[str, str] = {}
    if pod:
        # Runner Pods deliver to the URL of the run API they were started with (a Service's, in a cluster):
        # both controllers listen at one loopback address, as both would stand behind the one Service.
        listen = f"127.0.0.1:{free_port()}"
        harness.options = dataclasses.replace(harness.options, run_api_listen=listen)
        harness.reconciler = TerraformReconciler(harness.kube, harness.options)
        extra = {"run_api_listen": listen}
    proc = start_controller_process(harness.kubeconfig, work, runner_mode=harness.options.runner_mode, **extra)
    try:
        wait_for(lambda: hold.started() or proc.poll() is not None, 90, "the apply to start")
        assert proc.poll() is None
        run = harness.get("app")["status"]["runs"][-1]
        assert run["operation"] == "apply" and run["pid"] == proc.pid and run["plan"].startswith("plan-")
    finally:
        # terraform and its provisioner too: a crashed pod loses them all
        kill_controller(proc, processes_under(work))
    wait_for(lambda: not processes_under(work), 10, "the killed processes to be gone")
    assert hold.done() == 0
    hold.release()

    # A new controller (another instance, in this process) takes over. Pod mode: the adopted apply is
    # recorded (Applied=ApplySucceeded naming the Pod), then the same reconcile finds nothing to plan
    # (Ready=True NoChanges), so Ready's reason is not the test of it: the applied plan is.
    def applied(o: dict) -> bool:
        if pod:
            return ready_reason(o).startswith("True/") and o["status"].get("lastAppliedPlan") == run["plan"]
        return ready_reason(o) == "True/ApplySucceeded"

    obj = harness.reconcile_until("app", applied, 120, what="apply after restart")
    assert "runs" not in obj["status"] and "run" not in obj["status"]
    released = [e for e in harness.events("app") if e["reason"] == "StateLockReleased"]
    if pod:  # adopted: the Pod's apply finished and released its own lock
        assert released == [], released
        assert "ApplyInterrupted" not in {e["reason"] for e in harness.events("app")}
        assert [e for e in harness.events("app") if e["reason"] == "ApplySucceeded" and run["pod"] in e["message"]]
    else:
        assert released and "interrupted apply run" in released[0]["message"]
    assert read_lock(harness.kube, NS, "lock-tfstate-default-app") is None
    assert [r["type"] for r in harness.state("app")["resources"]] == ["terraform_data"]
    assert hold.done() == 1  # created once


@pytest.mark.runner_modes
def test_force_unlock_annotation(harness: Harness, git_file_remote, tmp_path, holds: HoldServer) -> None:
    hold = _applied_app(harness, git_file_remote, holds)
    # A foreign run (not ours: no run record) dies holding the lock.
    outside = _outside_apply(harness, tmp_path / "outside", hold)
    wait_for(lambda: hold.started(), 60, "the foreign run to lock")
    victims = processes_under(tmp_path / "outside")
    os.killpg(outside.pid, signal.SIGKILL)
    kill_all(victims)
    outside.wait(60)  # the lock stays, and it is not app's run: only a force-unlock releases it

    harness.annotate("app", "tfcontroller.io/replan", "1")
    obj = harness.reconcile("app")
    assert ready_reason(obj) == "False/StateLocked"
    lock_id = obj["status"]["lock"]["id"]
    harness.annotate("app", "tfcontroller.io/force-unlock", lock_id)
    obj = harness.reconcile_until("app", lambda o: ready_reason(o).startswith("True/"), what="unlocked")
    assert obj["status"]["lastHandledForceUnlock"] == lock_id
    assert "StateLockReleased" in {e["reason"] for e in harness.events("app")}



# ---- every window in which a run of ours could hold a lock nobody can attribute (design.md §4.4) ----


class RecordingTerraform:
    """A wrapper around the real terraform that reports, as each command starts, its name and the run
    marker in its environment to the hold server (tests/support/holds.py), which notes the run markers
    then recorded in the status of every Terraform object (read with the test's client: the run cannot
    reach the admin's kubeconfig) before answering; then it execs terraform (same pid: Terraform still
    leads its session)."""

    def __init__(self, tmp: Path, kube: KubeClient, holds: HoldServer) -> None:
        real = shutil.which("terraform")
        assert real

        def recorded_markers() -> set[str]:
            items, _ = kube.list_all(TERRAFORMS, NS)
            return {r.get("marker") for o in items for r in (o.get("status") or {}).get("runs") or []}

        self.counter = holds.counter(observe=recorded_markers)
        bin_dir = tmp / "recording-terraform"
        bin_dir.mkdir()
        self.path = bin_dir / "terraform"
        self.path.write_text(
            "#!/bin/sh\n"
            f'curl -sf -m 30 -X POST "{self.counter.url}/$1:${{{RUN_ENV}:-none}}" >/dev/null\n'
            f'exec {real} "$@"\n')
        self.path.chmod(0o755)

    def starts(self) -> list[tuple[str, str, set[str]]]:
        out = []
        for name, seen in self.counter.records():
            command, marker = name.split(":", 1)
            out.append((command, marker, set(seen)))
        return out


def test_every_terraform_command_starts_after_its_run_is_recorded(harness: Harness, git_file_remote,
                                                                   tmp_path: Path, holds: HoldServer) -> None:
    """The rule: no Terraform process of ours starts before its run's marker is in status, and one
    reconcile is one run (init, plan, show, apply all carry one marker; the workspace is selected with
    TF_WORKSPACE, so no `workspace select` runs). Inputs: an auto
    apply in a non-default workspace, a manual plan then its approval, and a force-unlock."""
    recording = RecordingTerraform(tmp_path, harness.kube, holds)
    harness.options = dataclasses.replace(harness.options, terraform=TerraformConfig.from_env(
        binary=str(recording.path), timeouts=Timeouts(grace=5.0)))
    harness.reconciler = TerraformReconciler(harness.kube, harness.options)
    remote = git_file_remote("infra")
    harness.publish("src", remote.bare, remote.commit({"main.tf": SIMPLE_TF}))

    harness.create("auto", workspace="staging")
    harness.reconcile_until("auto", lambda o: ready_reason(o) == "True/ApplySucceeded", what="auto apply")
    harness.create("manual", approvePlan="")
    obj = harness.reconcile_until("manual", lambda o: ready_reason(o) == "False/PlanPending", what="plan")
    harness.annotate("manual", "tfcontroller.io/approve-plan", obj["status"]["plan"]["pending"])
    harness.reconcile_until("manual", lambda o: ready_reason(o) == "True/ApplySucceeded", what="approved apply")
    harness.annotate("manual", "tfcontroller.io/force-unlock", "0b1c2d3e-not-held")
    harness.reconcile("manual")

    starts = [s for s in recording.starts() if s[0] != "version"]  # `version` reads no state
    commands = [command for command, _, _ in starts]
    for needed in ("init", "plan", "show", "apply", "force-unlock"):
        assert needed in commands, commands
    for command, marker, seen in starts:
        assert marker != "none" and marker in seen, (command, marker, seen)
    auto_markers = {m for c_, m, _ in starts[:commands.index("apply") + 1]}
    assert len(auto_markers) == 1  # init, plan, show and apply of one reconcile: one run
    for name in ("auto", "manual"):
        assert "runs" not in harness.get(name)["status"]


@pytest.mark.runner_modes
def test_terraform_killed_under_a_live_controller(harness: Harness, git_file_remote, tmp_path: Path,
                                                  holds: HoldServer) -> None:
    """Terraform dies alone (the OOM killer's choice) holding the lock: the reconcile (which kills what is
    left of the process group) keeps its run record; the next one, even if it fails early (source gone),
    releases the lock and reports the interrupted apply naming its plan; then it applies."""
    hold, hold2 = holds.new(), holds.new()
    hold2.release()
    remote = git_file_remote("infra")
    harness.publish("src", remote.bare, remote.commit({"main.tf": HOLD_TF}))
    harness.create("app", vars=[{"name": "hold", "value": str(hold)}])
    first = threading.Thread(target=harness.reconcile, args=("app",))
    first.start()
    try:
        wait_for(lambda: hold.started(), 60, "the apply to start")
        leaders = [p.pid for p in _terraform_of(harness, "app")]
        assert len(leaders) == 1, leaders
        os.kill(leaders[0], signal.SIGKILL)
    finally:
        first.join(60)
    obj = harness.get("app")
    [record] = obj["status"]["runs"]
    assert record["operation"] == "apply" and record["plan"] == obj["status"]["plan"]["pending"]
    assert read_lock(harness.kube, NS, "lock-tfstate-default-app") is not None
    assert run_processes(record["marker"]) == []  # the live runner killed the rest of the group

    harness.kube.patch_status(GITREPOSITORIES, "src", NS, {"artifact": None})  # the next reconcile fails early
    obj = harness.reconcile("app")
    assert ready_reason(obj) == "False/SourceNotReady"
    assert "runs" not in obj["status"]
    assert read_lock(harness.kube, NS, "lock-tfstate-default-app") is None
    interrupted = condition(obj, "ApplyInterrupted")
    assert interrupted is not None and record["plan"] in interrupted.message
    assert obj["status"]["lastInterruptedApply"]["plan"] == record["plan"]
    reasons = {e["reason"] for e in harness.events("app")}
    assert {"StateLockReleased", "ApplyInterrupted"} <= reasons

    harness.publish("src", remote.bare, remote.commit({"main.tf": HOLD_TF}))
    harness.patch("app", {"spec": {"vars": [{"name": "hold", "value": str(hold2)}]}})
    obj = harness.reconcile_until("app", lambda o: ready_reason(o) == "True/ApplySucceeded", 120, "apply")
    assert condition(obj, "ApplyInterrupted") is None and "runs" not in obj["status"]
    assert hold.done() == 0  # the killed run's provisioner never finished
    assert hold2.done() == 1


def test_dead_runs_records_are_never_lost(harness: Harness, git_file_remote, tmp_path: Path) -> None:
    """Two dead runs of ours recorded (an older attempt and the retry that followed it), the lock taken by
    the newer one, and a leftover of it (standing in for a provider plugin: carries the marker, does not
    lead its session) still running: liveness must not count the leftover; it is stopped, the lock
    released, both records dropped, and the object applied."""
    remote = git_file_remote("infra")
    harness.publish("src", remote.bare, remote.commit({"main.tf": SIMPLE_TF}))
    harness.create("app")
    harness.reconcile_until("app", lambda o: ready_reason(o) == "True/ApplySucceeded", what="first apply")
    dead = subprocess.Popen(["true"])
    dead.wait()  # a pid whose process is gone: the dead controller
    host, now = socket.gethostname(), dt.datetime.now(dt.UTC)
    older = RunRecord("gone", dead.pid, host, "m-older", format_rfc3339(now - dt.timedelta(seconds=30)), "apply",
                      plan="plan-older")
    newer = RunRecord("gone", dead.pid, host, "m-newer", format_rfc3339(now - dt.timedelta(seconds=10)), "apply",
                      plan="plan-newer")
    harness.kube.patch_status(TERRAFORMS, "app", NS, {"runs": [older.to_status(), newer.to_status()]})
    lock_id = "5a1e7b4e-0000-4000-8000-000000000001"
    created = (now - dt.timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%S.123456789Z")
    info = {"ID": lock_id, "Operation": "OperationTypeApply", "Who": f"root@{host}", "Version": "1.11.4",
            "Created": created, "Path": "", "Info": ""}
    harness.kube.patch(LEASES, "lock-tfstate-default-app", {
        "metadata": {"annotations": {LOCK_INFO_ANNOTATION: json.dumps(info)}},
        "spec": {"holderIdentity": lock_id}}, NS)
    plugin = subprocess.Popen(["sleep", "300"], env={**os.environ, RUN_ENV: "m-newer"})
    try:
        harness.annotate("app", "tfcontroller.io/replan", "1")
        obj = harness.reconcile_until("app", lambda o: ready_reason(o).startswith("True/"), 60, "recovered")
        assert plugin.wait(10) == -signal.SIGKILL
    finally:
        if plugin.poll() is None:
            plugin.kill()
            plugin.wait()
    assert "runs" not in obj["status"]
    assert read_lock(harness.kube, NS, "lock-tfstate-default-app") is None
    released = [e["message"] for e in harness.events("app") if e["reason"] == "StateLockReleased"]
    assert released and lock_id in released[0]
    interrupted = [e["message"] for e in harness.events("app") if e["reason"] == "ApplyInterrupted"]
    assert any("plan-newer" in m for m in interrupted) and any("plan-older" in m for m in interrupted)


def _terraform_of(harness: Harness, name: str) -> list:
    """Terraform processes of the object's run in flight: carrying its run marker (from the run record,
    written before any Terraform of the run starts) and leading their session (a sandbox's bwrap leads one
    too, and carries no marker). Found among all the host's processes, not under the harness's work dir:
    in pod mode Terraform runs in a runner Pod on the dev cluster's node, whose processes are the host's."""
    [record] = harness.get(name)["status"]["runs"]
    return terraform_processes(record["marker"])
