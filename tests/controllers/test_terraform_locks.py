"""State locks (design.md §4.4): a lock held by a live run gives StateLocked with the holder and is
retried once released; after `kill -9` of a controller process (and its Terraform children) in the
middle of an apply, a restarted controller releases the dead run's lock with an Event, completes the
apply, and nothing is created twice; `tfcontroller.io/force-unlock` releases a named lock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

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


def test_lock_held_by_a_live_run_gives_state_locked(harness: Harness, git_file_remote, tmp_path) -> None:
    hold = tmp_path / "hold"
    hold.mkdir()
    remote = git_file_remote("infra")
    harness.publish("src", remote.bare, remote.commit({"main.tf": HOLD_TF}))
    harness.create("app", vars=[{"name": "hold", "value": str(hold)}])
    harness.create("peer", backendConfig={"secretSuffix": "app"})  # same state, no hold

    first = threading.Thread(target=harness.reconcile, args=("app",))
    first.start()
    try:
        wait_for(lambda: (hold / "started").exists(), 60, "the first run to take the lock")
        obj = harness.reconcile("peer")
        assert ready_reason(obj) == "False/StateLocked"
        assert condition(obj, c.STATE_LOCKED).status == "True"
        assert condition(obj, c.RECONCILING) is not None  # retried, not stalled
        lock = obj["status"]["lock"]
        assert lock["id"] and "@" in lock["holder"]
        assert lock["id"] in condition(obj, c.READY).message
    finally:
        (hold / "release").touch()
        first.join(60)
    assert ready_reason(harness.get("app")) == "True/ApplySucceeded"
    obj = harness.reconcile_until("peer", lambda o: ready_reason(o).startswith("True/"), what="peer after unlock")
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
        run = harness.get("app")["status"]["runs"][-1]
        assert run["operation"] == "apply" and run["pid"] == proc.pid and run["plan"].startswith("plan-")
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
    assert "runs" not in obj["status"] and "run" not in obj["status"]
    released = [e for e in harness.events("app") if e["reason"] == "StateLockReleased"]
    assert released and "interrupted apply run" in released[0]["message"]
    assert [r["type"] for r in harness.state("app")["resources"]] == ["terraform_data"]
    assert (hold / "count").read_text().count("done") == 1  # created once


def test_force_unlock_annotation(harness: Harness, git_file_remote, tmp_path) -> None:
    hold = tmp_path / "hold"
    hold.mkdir()
    remote = git_file_remote("infra")
    replaced_on_hold = HOLD_TF.replace('input = "held"', 'input = "held"\n  triggers_replace = var.hold')
    harness.publish("src", remote.bare, remote.commit({"main.tf": replaced_on_hold}))
    harness.create("app")
    harness.reconcile_until("app", lambda o: ready_reason(o) == "True/ApplySucceeded", what="first apply")
    # A foreign run (not ours: no run record) dies holding the lock.
    harness.create("foreign", vars=[{"name": "hold", "value": str(hold)}], backendConfig={"secretSuffix": "app"})
    runner = threading.Thread(target=harness.reconcile, args=("foreign",))
    runner.start()
    wait_for(lambda: (hold / "started").exists(), 60, "the foreign run to lock")
    for pid in processes_under(harness.tmp / "work" / "runs"):
        os.kill(pid, signal.SIGKILL)
    runner.join(60)  # the lock stays, and it is not app's run: only a force-unlock releases it

    harness.annotate("app", "tfcontroller.io/replan", "1")
    obj = harness.reconcile("app")
    assert ready_reason(obj) == "False/StateLocked"
    lock_id = obj["status"]["lock"]["id"]
    harness.annotate("app", "tfcontroller.io/force-unlock", lock_id)
    obj = harness.reconcile_until("app", lambda o: ready_reason(o).startswith("True/"), what="unlocked")
    assert obj["status"]["lastHandledForceUnlock"] == lock_id
    assert "StateLockReleased" in {e["reason"] for e in harness.events("app")}

