"""State locks (design.md §4.4): a lock held by a live run gives StateLocked with the holder and is
retried once released (the holder is a Terraform run by hand: a second object on the state would be
refused, §4.8); after `kill -9` of a controller process (and its Terraform children) in the
middle of an apply, a restarted controller releases the dead run's lock with an Event, completes the
apply, and nothing is created twice; `tfcontroller.io/force-unlock` releases a named lock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from tests.controllers.terraform_helpers import (
    HOLD_TF,
    REPO_ROOT,
    Harness,
    condition,
    processes_under,
    ready_reason,
    wait_for,
)
from tfcontroller.api import conditions as c


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


def test_lock_held_by_a_live_run_gives_state_locked(harness: Harness, git_file_remote, tmp_path) -> None:
    hold = tmp_path / "hold"
    hold.mkdir()
    remote = git_file_remote("infra")
    harness.publish("src", remote.bare, remote.commit({"main.tf": HOLD_TF_REPLACED}))
    harness.create("app")
    harness.reconcile_until("app", lambda o: ready_reason(o) == "True/ApplySucceeded", what="first apply")

    outside = _outside_apply(harness, tmp_path / "outside", hold)  # another writer of the same state
    try:
        wait_for(lambda: (hold / "started").exists(), 60, "the other run to take the lock")
        harness.annotate("app", "tfcontroller.io/replan", "1")
        obj = harness.reconcile("app")
        assert ready_reason(obj) == "False/StateLocked"
        assert condition(obj, c.STATE_LOCKED).status == "True"
        assert condition(obj, c.RECONCILING) is not None  # retried, not stalled
        lock = obj["status"]["lock"]
        assert lock["id"] and "@" in lock["holder"]
        assert lock["id"] in condition(obj, c.READY).message
    finally:
        (hold / "release").touch()
        assert outside.wait(60) == 0
    obj = harness.reconcile_until("app", lambda o: ready_reason(o).startswith("True/"), what="app after unlock")
    assert condition(obj, c.STATE_LOCKED) is None and "lock" not in obj["status"]
    assert (hold / "count").read_text().count("done") == 1


def test_lock_of_a_killed_controller_is_released_and_the_apply_completes(harness: Harness, git_file_remote,
                                                                          tmp_path) -> None:
    hold = tmp_path / "hold"
    hold.mkdir()
    remote = git_file_remote("infra")
    harness.publish("src", remote.bare, remote.commit({"main.tf": HOLD_TF}))
    harness.create("app", vars=[{"name": "hold", "value": str(hold)}])

    work = tmp_path / "proc-work"
    code = "import sys; from tests.controllers.terraform_helpers import run_controller_process as r; " \
           f"sys.exit(r({harness.kubeconfig!r}, {str(work)!r}))"
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO_ROOT, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: (hold / "started").exists() or proc.poll() is not None, 90, "the apply to start")
        assert proc.poll() is None
        run = harness.get("app")["status"]["run"]
        assert run["operation"] == "apply" and run["pid"] == proc.pid
    finally:
        victims = processes_under(work)  # terraform and its provisioner: a crashed pod loses them all
        os.killpg(proc.pid, signal.SIGKILL)
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait(10)
    wait_for(lambda: not processes_under(work), 10, "the killed processes to be gone")
    assert not (hold / "count").exists()
    (hold / "release").touch()

    # A new controller (another instance, in this process) takes over.
    obj = harness.reconcile_until("app", lambda o: ready_reason(o) == "True/ApplySucceeded", 120,
                                  what="apply after restart")
    assert "run" not in obj["status"]
    released = [e for e in harness.events("app") if e["reason"] == "StateLockReleased"]
    assert released and "interrupted apply run" in released[0]["message"]
    assert [r["type"] for r in harness.state("app")["resources"]] == ["terraform_data"]
    assert (hold / "count").read_text().count("done") == 1  # created once


def test_force_unlock_annotation(harness: Harness, git_file_remote, tmp_path) -> None:
    hold = tmp_path / "hold"
    hold.mkdir()
    remote = git_file_remote("infra")
    harness.publish("src", remote.bare, remote.commit({"main.tf": HOLD_TF_REPLACED}))
    harness.create("app")
    harness.reconcile_until("app", lambda o: ready_reason(o) == "True/ApplySucceeded", what="first apply")
    # A foreign run (not ours: no run record) dies holding the lock.
    outside = _outside_apply(harness, tmp_path / "outside", hold)
    wait_for(lambda: (hold / "started").exists(), 60, "the foreign run to lock")
    victims = processes_under(tmp_path / "outside")
    os.killpg(outside.pid, signal.SIGKILL)
    for pid in victims:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    outside.wait(60)  # the lock stays, and it is not app's run: only a force-unlock releases it

    harness.annotate("app", "tfcontroller.io/replan", "1")
    obj = harness.reconcile("app")
    assert ready_reason(obj) == "False/StateLocked"
    lock_id = obj["status"]["lock"]["id"]
    harness.annotate("app", "tfcontroller.io/force-unlock", lock_id)
    obj = harness.reconcile_until("app", lambda o: ready_reason(o).startswith("True/"), what="unlocked")
    assert obj["status"]["lastHandledForceUnlock"] == lock_id
    assert "StateLockReleased" in {e["reason"] for e in harness.events("app")}

