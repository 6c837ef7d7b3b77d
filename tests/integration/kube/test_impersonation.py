"""`KubeClient.impersonating` against the dev cluster's authenticator and RBAC: every group is sent (one
`Impersonate-Group` header each, as kube-apiserver reads them — the dev cluster joins repeated headers
with ", " as HTTP allows, so a group name holding a comma is not tried here),
the uid too when asked, and RBAC granted to the second group applies — the dashboard acts as a viewer with
all their groups, not the first one only."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tfcontroller.dev.cluster import DevCluster
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.errors import Forbidden
from tfcontroller.kube.resources import CONFIGMAPS, Resource
from tfcontroller.kube.reviews import whoami

ROLES = Resource("rbac.authorization.k8s.io/v1", "Role", "roles")
ROLEBINDINGS = Resource("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings")


@pytest.fixture
def admin(cluster: DevCluster) -> Iterator[KubeClient]:
    client = KubeClient.load(cluster.kubeconfig)
    yield client
    client.close()


def test_every_group_is_impersonated(admin: KubeClient) -> None:
    groups = ("team-a", "oidc:team-b", "system:serviceaccounts:team-c")
    me = whoami(admin.impersonating("alice", groups))
    assert me.username == "alice"
    assert set(groups) <= set(me.groups), me.groups
    assert whoami(admin.impersonating("bob", (), uid="u-42")).uid == "u-42"


def test_rbac_of_a_later_group_applies(admin: KubeClient) -> None:
    admin.create(ROLES, {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                         "metadata": {"name": "cm-reader", "namespace": "default"},
                         "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}]})
    admin.create(ROLEBINDINGS, {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                                "metadata": {"name": "cm-reader", "namespace": "default"},
                                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                            "name": "cm-reader"},
                                "subjects": [{"kind": "Group", "name": "readers",
                                              "apiGroup": "rbac.authorization.k8s.io"}]})
    admin.impersonating("carol", ("others", "readers")).list(CONFIGMAPS, "default")
    with pytest.raises(Forbidden):
        admin.impersonating("carol", ("others",)).list(CONFIGMAPS, "default")
