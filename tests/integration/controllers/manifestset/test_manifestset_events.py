"""ManifestSet Events and messages an operator reads, with the real manager on the dev cluster (issue 13):
waiting for a source that has no artifact yet is a Normal wait (SourceNotReady), not a Warning (point
21); an apply error names the file the object came from through nested kustomizations, not the top
kustomization file (point 7); and once the error is fixed a Normal Event says the object recovered and
from what (point 6)."""

from __future__ import annotations

from collections.abc import Callable

from tests.support.manifestset_support import (
    Env,
    create_source,
    events_for,
    manifestset,
    wait_for,
    wait_ms,
)
from tfcontroller.kube.resources import CONFIGMAPS, EVENTS, MANIFESTSETS

GOOD = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-stack\ndata:\n  region: eu-west-1\n"
BAD = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-stack\ndata:\n  region: [eu, west]\n"
LAYOUT = {
    "clusters/dev-cluster/kustomization.yaml": "resources:\n- infrastructure\n",
    "clusters/dev-cluster/infrastructure/kustomization.yaml": "resources:\n- app-stack-dev.yaml\n",
}


def all_events(env: Env, name: str) -> list[dict]:
    items = env.kube.list(EVENTS, "default").get("items") or []
    return [e for e in items if (e.get("involvedObject") or {}).get("name") == name]


def test_wait_for_source_then_error_names_file_then_recovery(ms_env: Env, git_file_remote: Callable) -> None:
    kube = ms_env.kube
    remote = git_file_remote()
    remote.commit({**LAYOUT, "clusters/dev-cluster/infrastructure/app-stack-dev.yaml": BAD})
    ms_env.start()
    kube.create(MANIFESTSETS, manifestset("stack", "clusters/dev-cluster"))

    # no GitRepository yet: waiting, a Normal Event, no Warning
    cond = wait_ms(kube, "stack", "False", "SourceNotReady")
    assert "GitRepository default/repo" in cond.message
    waiting = wait_for(lambda: events_for(kube, "stack", "SourceNotReady"), 10, "SourceNotReady Event")
    assert {e["type"] for e in waiting} == {"Normal"}

    # the source comes; the bad value's own file is named, not the kustomization file that includes it
    create_source(kube, remote.url)
    cond = wait_ms(kube, "stack", "False", "ApplyFailed", timeout=30)
    assert "ConfigMap/default/app-stack (from clusters/dev-cluster/infrastructure/app-stack-dev.yaml)" in cond.message
    assert "kustomization.yaml" not in cond.message
    warnings = wait_for(lambda: [e for e in all_events(ms_env, "stack") if e["type"] == "Warning"], 10, "Warning")
    assert [e["reason"] for e in warnings] == ["ApplyFailed"]
    assert not [e for e in all_events(ms_env, "stack") if e["reason"] in ("ArtifactFailed", "SourceNotReady")
                and e["type"] == "Warning"]

    # fixed in Git: Ready again, and a Normal Event that says it recovered from the apply failure
    remote.commit({"clusters/dev-cluster/infrastructure/app-stack-dev.yaml": GOOD})
    wait_ms(kube, "stack", "True", timeout=30)
    cm = kube.get(CONFIGMAPS, "app-stack", "default")
    assert cm["data"] == {"region": "eu-west-1"}
    assert "config.kubernetes.io/origin" not in (cm["metadata"].get("annotations") or {})
    recovered = wait_for(lambda: [e for e in all_events(ms_env, "stack") if e["type"] == "Normal"
                                  and e["message"].startswith("Recovered from ApplyFailed (")], 10, "recovery Event")
    assert "app-stack-dev.yaml" in recovered[0]["message"]
