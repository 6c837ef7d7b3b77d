"""What the Terraform fuzz (tests/integration/fuzz/test_fuzz_terraform.py, `benchmarks/fuzz.py --terraform`)
sets up and reads back, shared by both: the source repository holding schema_fuzz.RUNNABLE_MODULE, the
Secrets and ConfigMaps its objects read, and the observations the issue asks for — each object's outcome
(its Ready condition, settled or not), the Terraform commands run per object (from the controller's
log), and every place a secret value could leak to (log, status, Events)."""

from __future__ import annotations

import collections
import json
import os
import re
import subprocess
import threading
from pathlib import Path
from typing import Any

from tests.support.schema_fuzz import FUZZ_SOURCE, RUNNABLE_MODULE, SECRET_VALUES, runnable_fixtures
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.errors import AlreadyExists
from tfcontroller.kube.resources import EVENTS, GITREPOSITORIES

REASON = re.compile(r"^[A-Z][A-Za-z0-9]*$")
# what may fail a hermetic run for a reason outside its input on a loaded machine (the dev cluster slow to
# answer the kubernetes backend): the only TerraformFailed messages the fuzz lets through
TRANSIENT = re.compile(r"connection|timed? ?out|deadline|EOF|temporar", re.IGNORECASE)
# a command started: by the runner process (local mode: `runner: terraform plan: started`) or, for commands the
# controller runs itself, its own line after it ends (`terraform command=plan rc=0 …`)
_RUN_LINE = re.compile(r'object=(\S+) msg="(?:runner: terraform ([a-z-]+): started|terraform command=([a-z-]+) rc=)')
# Terraform commands that make or use a plan: what a retry loop repeats (init and output are not counted)
PLANNING = ("plan", "apply", "destroy")


def module_repository(root: Path) -> str:
    """A bare repository under `root` whose `main` holds RUNNABLE_MODULE; its file:// URL."""
    bare, work = root / "fuzz-module.git", root / "fuzz-module.work"

    def git(*args: str, cwd: Path) -> None:
        subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                       env={"GIT_AUTHOR_NAME": "fuzz", "GIT_AUTHOR_EMAIL": "fuzz@example.invalid",
                            "GIT_COMMITTER_NAME": "fuzz", "GIT_COMMITTER_EMAIL": "fuzz@example.invalid",
                            "HOME": str(root), "PATH": "/usr/bin:/bin:/usr/local/bin"})

    root.mkdir(parents=True, exist_ok=True)
    git("init", "--quiet", "--bare", "--initial-branch=main", str(bare), cwd=root)
    git("init", "--quiet", "--initial-branch=main", str(work), cwd=root)
    for rel, text in RUNNABLE_MODULE.items():
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_text(text)
    git("add", "--all", cwd=work)
    git("commit", "--quiet", "-m", "fuzz module", cwd=work)
    git("push", "--quiet", str(bare), "main:main", cwd=work)
    return bare.as_uri()


def set_up(kube: KubeClient, url: str, namespace: str = "default") -> None:
    """The GitRepository `FUZZ_SOURCE` at `url` and the Secrets and ConfigMaps the objects read."""
    source = {"apiVersion": "tfcontroller.io/v1alpha1", "kind": "GitRepository",
              "metadata": {"name": FUZZ_SOURCE, "namespace": namespace},
              "spec": {"url": url, "interval": "1h", "ref": {"branch": "main"}}}
    for obj in [*runnable_fixtures(namespace), source]:
        try:
            kube.create(kube.resource_of(obj), obj, namespace)
        except AlreadyExists:
            pass


def source_ready(kube: KubeClient, namespace: str = "default") -> bool:
    obj = kube.get_or_none(GITREPOSITORIES, FUZZ_SOURCE, namespace) or {}
    return bool(((obj.get("status") or {}).get("artifact") or {}).get("url"))


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any] | None:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == type_), None)


def outcome(obj: dict[str, Any]) -> str | None:
    """`<Ready status>/<reason>` once the object has settled — a Ready condition with a CamelCase reason and
    a message, for its current generation, and no work in flight (Reconciling not True, or True only as
    `ProgressingWithRetry` beside Ready=False: waiting for something that may yet appear, such as a Secret,
    which the run counts of `terraform_runs` tell from a retry loop) — else None."""
    ready, busy = condition(obj, "Ready"), condition(obj, "Reconciling")
    if ready is None or not REASON.match(ready.get("reason") or "") or not ready.get("message"):
        return None
    if busy is not None and busy.get("status") == "True" and (
            busy.get("reason") != "ProgressingWithRetry" or ready.get("status") != "False"):
        return None
    generation = (obj.get("metadata") or {}).get("generation")
    if generation is not None and ready.get("observedGeneration") not in (None, generation):
        return None
    return f"{ready['status']}/{ready['reason']}"


def terraform_runs(log: str) -> dict[str, collections.Counter[str]]:
    """Object key (`ns/name`) → Terraform command → how many times the controller ran it."""
    runs: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for key, by_runner, by_controller in _RUN_LINE.findall(log):
        runs[key][by_runner or by_controller] += 1
    return runs


def planning_runs(runs: dict[str, collections.Counter[str]], key: str) -> int:
    return sum(runs.get(key, collections.Counter())[c] for c in PLANNING)


def leaks(kube: KubeClient, log: str, names: list[str], namespace: str = "default") -> list[str]:
    """Where a value of SECRET_VALUES shows: the log, an object's status, an Event (design.md §4.7)."""
    from tfcontroller.kube.resources import TERRAFORMS

    places = {"controller log": log}
    for name in names:
        obj = kube.get_or_none(TERRAFORMS, name, namespace) or {}
        places[f"{name} status"] = json.dumps(obj.get("status") or {}, ensure_ascii=False)
    events, _ = kube.list_all(EVENTS, namespace)
    places["events"] = json.dumps([{k: e.get(k) for k in ("reason", "message", "note")} for e in events],
                                  ensure_ascii=False)
    return [f"{value} in {where}" for where, text in places.items() for value in SECRET_VALUES if value in text]


def disk_usage(root: Path) -> int:
    """Bytes allocated under `root` (sparse files count what they occupy); vanished files are skipped."""
    total = 0
    for dirpath, _, names in os.walk(root):
        for name in names:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
            except FileNotFoundError:
                pass
    return total


class PeakSampler(threading.Thread):
    """The largest disk usage of a directory seen while it runs, sampled every `interval` seconds until
    `done` is set: the work directory's bound of the fuzz and malicious-artifact checks."""

    def __init__(self, root: Path, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.root, self.interval, self.peak, self.done = root, interval, 0, threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.peak = max(self.peak, disk_usage(self.root))
            self.done.wait(self.interval)
