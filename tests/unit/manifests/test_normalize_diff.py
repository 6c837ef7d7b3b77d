"""Pure apply helpers: namespace placement and owner labels (normalize), apply order (CRDs, Namespaces,
rest), changed field paths for self-heal reports (diff), prune decisions, variable precedence."""

from tfcontroller.manifests.diff import changed_paths, summarize_paths
from tfcontroller.manifests.normalize import label_of, normalize, ordered, owner_labels
from tfcontroller.manifests.prune import decide
from tfcontroller.manifests.sources import merge_variables

CM = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "own"}, "data": {"a": "1"}}
CRD = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "w.x.io"}}
NS = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod"}}


def test_namespace_rules() -> None:
    labels = owner_labels("ms", "team")
    kept = normalize(CM, namespaced=True, default_namespace="team", target_namespace=None, labels=labels)
    assert kept["metadata"]["namespace"] == "own"
    moved = normalize(CM, namespaced=True, default_namespace="team", target_namespace="prod", labels=labels)
    assert moved["metadata"]["namespace"] == "prod"
    bare = {**CM, "metadata": {"name": "c"}}
    assert normalize(bare, namespaced=True, default_namespace="team", target_namespace=None,
                     labels={})["metadata"]["namespace"] == "team"
    cluster = normalize({**NS, "metadata": {"name": "prod", "namespace": "x"}}, namespaced=False,
                        default_namespace="team", target_namespace="prod", labels=labels)
    assert "namespace" not in cluster["metadata"]
    assert moved["metadata"]["labels"] == {"tfcontroller.io/manifestset-name": "ms",
                                           "tfcontroller.io/manifestset-namespace": "team"}
    assert "labels" not in CM["metadata"]  # input untouched


def test_server_fields_dropped() -> None:
    live = {**CM, "metadata": {**CM["metadata"], "resourceVersion": "5", "uid": "u", "managedFields": []},
            "status": {"x": 1}}
    out = normalize(live, namespaced=True, default_namespace="d", target_namespace=None, labels={})
    assert set(out["metadata"]) == {"name", "namespace", "labels"} and "status" not in out


def test_apply_order_crds_then_namespaces_then_rest() -> None:
    assert ordered([CM, NS, CRD, CM]) == [CRD, NS, CM, CM]
    assert label_of(CM) == "ConfigMap/own/c" and label_of(NS) == "Namespace/prod"


def test_changed_paths_ignore_bookkeeping() -> None:
    before = {**CM, "metadata": {**CM["metadata"], "resourceVersion": "1"}, "spec": {"l": [1, {"v": 2}]}}
    after = {**CM, "metadata": {**CM["metadata"], "resourceVersion": "2", "labels": {"a": "b"}},
             "data": {"a": "2"}, "spec": {"l": [1, {"v": 3}]}}
    assert changed_paths(before, after) == ["data.a", "metadata.labels", "spec.l[1].v"]
    assert changed_paths(None, after) == []
    assert changed_paths(before, before) == []
    assert summarize_paths([str(i) for i in range(7)], 5) == "0, 1, 2, 3, 4 (+2 more)"


def test_prune_decisions() -> None:
    owner = owner_labels("ms", "team")
    ours = {"metadata": {"labels": dict(owner)}}
    assert decide(ours, owner) == "delete"
    assert decide({"metadata": {"labels": dict(owner), "annotations": {"tfcontroller.io/prune": "disabled"}}},
                  owner) == "keep-annotated"
    assert decide({"metadata": {"labels": {**owner, "tfcontroller.io/manifestset-name": "other"}}}, owner) == "keep-foreign"


def test_variable_precedence() -> None:
    assert merge_variables([{"a": "1", "b": "1"}, {"b": "2"}], {"a": "inline"}) == {"a": "inline", "b": "2"}
