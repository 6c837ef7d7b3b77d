"""ManifestSet failure cases on the dev cluster, each with its Ready=False reason and a message naming
the object and/or file: invalid YAML (BuildFailed), a kustomize error (BuildFailed), a missing variable
(SubstitutionFailed), a kind the cluster does not serve (ApplyFailed), an immutable field changed
without `force` (ApplyFailed) and with it (recreated), and an apply forbidden to the impersonated
ServiceAccount (ApplyFailed with the API server's 403), which succeeds once RBAC allows it."""

from __future__ import annotations

from collections.abc import Callable

from tests.support.manifestset_support import (
    Env,
    create_source,
    manifestset,
    ms_status,
    wait_for,
    wait_ms,
    wait_revision,
)
from tfcontroller.kube.resources import CONFIGMAPS, MANIFESTSETS, SERVICEACCOUNTS, Resource

DEPLOYMENTS = Resource("apps/v1", "Deployment", "deployments")
ROLES = Resource("rbac.authorization.k8s.io/v1", "Role", "roles")
ROLEBINDINGS = Resource("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings")

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  k: {value}\n"


def deployment(selector: str) -> str:
    return (f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  selector:\n"
            f"    matchLabels: {{app: {selector}}}\n  template:\n    metadata:\n      labels: {{app: {selector}}}\n"
            "    spec:\n      containers:\n      - {name: web, image: example/web:1}\n")


def test_build_and_substitution_failures(ms_env: Env, git_file_remote: Callable) -> None:
    kube = ms_env.kube
    remote = git_file_remote()
    remote.commit({
        "bad/ok.yaml": CM.format(name="ok", value="v"),
        "bad/broken.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [unclosed\n",
        "kust/kustomization.yaml": "resources:\n- missing.yaml\n",
        "vars/cm.yaml": CM.format(name="vars", value="${undefined_var}"),
        "crd/widget.yaml": "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w1\n",
    })
    ms_env.start()
    create_source(kube, remote.url)
    kube.create(MANIFESTSETS, manifestset("bad", "bad"))
    kube.create(MANIFESTSETS, manifestset("kust", "kust"))
    kube.create(MANIFESTSETS, manifestset("vars", "vars", substitute={"other": "x"}))
    kube.create(MANIFESTSETS, manifestset("crd", "crd"))

    cond = wait_ms(kube, "bad", "False", "BuildFailed")
    assert "bad/broken.yaml" in cond.message and "invalid YAML" in cond.message
    assert kube.get_or_none(CONFIGMAPS, "ok", "default") is None  # nothing applied from a broken render

    cond = wait_ms(kube, "kust", "False", "BuildFailed")
    assert "kustomize build of kust failed" in cond.message and "missing.yaml" in cond.message

    cond = wait_ms(kube, "vars", "False", "SubstitutionFailed")
    assert "vars/cm.yaml" in cond.message and "ConfigMap/vars" in cond.message and "undefined_var" in cond.message

    cond = wait_ms(kube, "crd", "False", "ApplyFailed")
    assert "Widget/w1 (from crd/widget.yaml)" in cond.message
    assert "does not serve kind Widget in example.com/v1" in cond.message


def test_immutable_field_without_and_with_force(ms_env: Env, git_file_remote: Callable) -> None:
    kube = ms_env.kube
    remote = git_file_remote()
    remote.commit({"d/web.yaml": deployment("web-v1")})
    ms_env.start()
    create_source(kube, remote.url)
    kube.create(MANIFESTSETS, manifestset("d", "d"))
    wait_ms(kube, "d", "True")
    uid = kube.get(DEPLOYMENTS, "web", "default")["metadata"]["uid"]

    remote.commit({"d/web.yaml": deployment("web-v2")})
    cond = wait_ms(kube, "d", "False", "ApplyFailed")
    assert "Deployment/default/web (from d/web.yaml)" in cond.message
    assert "field is immutable" in cond.message and "spec.force: true" in cond.message
    assert kube.get(DEPLOYMENTS, "web", "default")["metadata"]["uid"] == uid

    kube.patch(MANIFESTSETS, "d", {"spec": {"force": True}}, "default")
    wait_ms(kube, "d", "True")
    dep = kube.get(DEPLOYMENTS, "web", "default")
    assert dep["metadata"]["uid"] != uid
    assert dep["spec"]["selector"]["matchLabels"] == {"app": "web-v2"}


def test_apply_forbidden_to_impersonated_service_account(ms_env: Env, git_file_remote: Callable) -> None:
    kube = ms_env.kube
    remote = git_file_remote()
    commit = remote.commit({"t/a-config.yaml": CM.format(name="tenant-config", value="v"),
                            "t/b-web.yaml": deployment("web")})
    kube.create(SERVICEACCOUNTS, {"apiVersion": "v1", "kind": "ServiceAccount",
                                  "metadata": {"name": "tenant", "namespace": "default"}})
    kube.create(ROLES, {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                        "metadata": {"name": "tenant", "namespace": "default"},
                        "rules": [{"apiGroups": [""], "resources": ["configmaps"],
                                   "verbs": ["get", "list", "create", "patch", "delete"]}]})
    kube.create(ROLEBINDINGS, {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                               "metadata": {"name": "tenant", "namespace": "default"},
                               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "tenant"},
                               "subjects": [{"kind": "ServiceAccount", "name": "tenant", "namespace": "default"}]})
    ms_env.start()
    create_source(kube, remote.url)
    kube.create(MANIFESTSETS, manifestset("tenant", "t", serviceAccountName="tenant"))
    cond = wait_ms(kube, "tenant", "False", "ApplyFailed")
    assert "Deployment/default/web (from t/b-web.yaml)" in cond.message
    assert 'User "system:serviceaccount:default:tenant" cannot' in cond.message
    assert kube.get_or_none(DEPLOYMENTS, "web", "default") is None
    assert kube.get_or_none(CONFIGMAPS, "tenant-config", "default") is not None  # what it may apply, it did

    role = kube.get(ROLES, "tenant", "default")
    # Server-side apply creates the Deployment, so the tenant needs create as well as patch (as on a real cluster).
    role["rules"].append({"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "patch", "create"]})
    kube.replace(ROLES, role)
    wait_ms(kube, "tenant", "True")
    wait_revision(kube, "tenant", commit)
    assert kube.get_or_none(DEPLOYMENTS, "web", "default") is not None
    wait_for(lambda: len(ms_status(kube, "tenant")["inventory"]) == 2, 5, "both objects in the inventory")
