"""The review APIs (kube/reviews.py) against the dev cluster's real authenticator and RBAC: `whoami` names
the kubeconfig's identity (admin and a ServiceAccount), `allowed` answers as RBAC does for that identity
(by verb, name, namespace, subresource; also through impersonation), and `token_review` accepts a valid
token with its user and groups and refuses a forged, an expired-audience and an empty one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tfcontroller.dev.cluster import DevCluster
from tfcontroller.dev.cluster.kubeconfig import write_kubeconfig
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import CONFIGMAPS, PODS, SECRETS, SERVICEACCOUNTS, TERRAFORMS, Resource
from tfcontroller.kube.reviews import UserInfo, allowed, token_review, whoami

ROLES = Resource("rbac.authorization.k8s.io/v1", "Role", "roles")
ROLEBINDINGS = Resource("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings")
SA_USER = "system:serviceaccount:default:viewer"


@pytest.fixture
def admin(cluster: DevCluster) -> Iterator[KubeClient]:
    client = KubeClient.load(cluster.kubeconfig)
    yield client
    client.close()


@pytest.fixture
def viewer_token(cluster: DevCluster, admin: KubeClient) -> str:
    """ServiceAccount default/viewer may get ConfigMap `app` and pods/log, nothing else."""
    admin.create(SERVICEACCOUNTS, {"metadata": {"name": "viewer"}}, "default")
    admin.create(ROLES, {"metadata": {"name": "viewer"}, "rules": [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"], "resourceNames": ["app"]},
        {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]}]}, "default")
    admin.create(ROLEBINDINGS, {"metadata": {"name": "viewer"},
                                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "viewer"},
                                "subjects": [{"kind": "ServiceAccount", "name": "viewer", "namespace": "default"}]},
                 "default")
    token, _ = cluster.tokens.issue("default", "viewer")
    return str(token)


def client_for(cluster: DevCluster, token: str, tmp_path: Path) -> KubeClient:
    path = tmp_path / "viewer.kubeconfig"
    write_kubeconfig(path, cluster.url, token, cluster.ca_pem)
    return KubeClient.load(str(path))


def test_whoami_names_the_kubeconfig_identity(cluster: DevCluster, admin: KubeClient, viewer_token: str,
                                              tmp_path: Path) -> None:
    me = whoami(admin)
    assert me.username == "dev-cluster-admin" and "system:masters" in me.groups
    viewer = client_for(cluster, viewer_token, tmp_path)
    try:
        info = whoami(viewer)
    finally:
        viewer.close()
    assert info.username == SA_USER and info.uid
    assert info.groups == ("system:serviceaccounts", "system:serviceaccounts:default", "system:authenticated")


def test_allowed_answers_as_rbac_for_the_clients_user(cluster: DevCluster, admin: KubeClient, viewer_token: str,
                                                      tmp_path: Path) -> None:
    viewer = client_for(cluster, viewer_token, tmp_path)
    try:
        assert allowed(viewer, "get", CONFIGMAPS, "app", "default")
        assert not allowed(viewer, "get", CONFIGMAPS, "other", "default")  # resourceNames
        assert not allowed(viewer, "patch", CONFIGMAPS, "app", "default")  # verb
        assert not allowed(viewer, "get", CONFIGMAPS, "app", "kube-system")  # namespace
        assert not allowed(viewer, "get", SECRETS, "", "default")
        assert not allowed(viewer, "patch", TERRAFORMS, "app", "default")
        assert allowed(viewer, "get", PODS, "runner-1", "default", subresource="log")
        assert not allowed(viewer, "get", PODS, "runner-1", "default")  # the Pod itself is not the log
    finally:
        viewer.close()
    assert allowed(admin, "patch", TERRAFORMS, "app", "default")
    # as an impersonated user (the in-cluster dashboard's way): the impersonated user's answer
    as_viewer = admin.impersonating(SA_USER)
    assert allowed(as_viewer, "get", CONFIGMAPS, "app", "default")
    assert not allowed(as_viewer, "patch", CONFIGMAPS, "app", "default")


def test_token_review(cluster: DevCluster, admin: KubeClient, viewer_token: str) -> None:
    user = token_review(admin, viewer_token)
    assert isinstance(user, UserInfo) and user.username == SA_USER
    assert "system:serviceaccounts:default" in user.groups
    assert token_review(admin, viewer_token, audiences=("https://kubernetes.default.svc.cluster.local",)) is not None
    assert token_review(admin, viewer_token, audiences=("dashboard",)) is None  # not issued for that audience
    aud_token, _ = cluster.tokens.issue("default", "viewer", audiences=["dashboard"])
    granted = token_review(admin, str(aud_token), audiences=("dashboard",))
    assert granted is not None and granted.username == SA_USER
    forged = viewer_token[:-4] + ("AAAA" if not viewer_token.endswith("AAAA") else "BBBB")
    for bad in ("", "not-a-token", forged):
        assert token_review(admin, bad) is None
