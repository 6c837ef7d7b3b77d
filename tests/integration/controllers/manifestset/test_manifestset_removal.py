"""What a commit removes from a manifest leaves the cluster, end to end with the
ManifestSet controller: a Secret loses the `stringData` key the commit dropped while another key
changes, and a ConfigMap loses a label, an annotation and a data key; Ready names the new revision and
no object is re-created (same uids)."""

from __future__ import annotations

import base64
from collections.abc import Callable

from tests.support.manifestset_support import (
    Env,
    create_source,
    manifestset,
    wait_ms,
    wait_revision,
)
from tfcontroller.kube.resources import CONFIGMAPS, MANIFESTSETS, SECRETS

SECRET = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ntype: Opaque\nstringData:\n{keys}"
CM = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n  labels:\n{labels}  annotations:\n{ann}"
      "data:\n{data}")


def test_removed_keys_labels_and_annotations_leave_the_cluster(ms_env: Env, git_file_remote: Callable) -> None:
    kube = ms_env.kube
    remote = git_file_remote()
    remote.commit({
        "m/secret.yaml": SECRET.format(keys="  DB_USER: app\n  DB_PASSWORD: pw\n  LEGACY_TOKEN: old-token\n"),
        "m/cm.yaml": CM.format(labels="    team: a\n    tier: web\n", ann="    note: x\n    old: y\n",
                               data="  A: '1'\n  B: '2'\n"),
    })
    ms_env.start()
    create_source(kube, remote.url)
    kube.create(MANIFESTSETS, manifestset("m", "m", interval="1h", prune=True))
    wait_ms(kube, "m", "True")
    uids = {kube.get(SECRETS, "db", "default")["metadata"]["uid"], kube.get(CONFIGMAPS, "app", "default")["metadata"]["uid"]}

    commit = remote.commit({
        "m/secret.yaml": SECRET.format(keys="  DB_USER: app2\n  DB_PASSWORD: pw\n"),
        "m/cm.yaml": CM.format(labels="    team: a\n", ann="    note: x\n", data="  A: '1'\n"),
    })
    wait_revision(kube, "m", commit)
    cond = wait_ms(kube, "m", "True")
    assert commit in cond.message
    secret = kube.get(SECRETS, "db", "default")
    assert {k: base64.b64decode(v).decode() for k, v in secret["data"].items()} == {"DB_USER": "app2", "DB_PASSWORD": "pw"}
    cm = kube.get(CONFIGMAPS, "app", "default")
    assert cm["data"] == {"A": "1"}
    assert cm["metadata"]["annotations"] == {"note": "x"}
    assert {k: v for k, v in cm["metadata"]["labels"].items() if not k.startswith("tfcontroller.io/")} == {"team": "a"}
    assert {secret["metadata"]["uid"], cm["metadata"]["uid"]} == uids
