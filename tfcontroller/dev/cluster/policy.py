"""What the real control plane does on its own for authentication and RBAC: the bootstrap policy at
start, the clusterrole-aggregation controller, and the ServiceAccount controller's `default`
ServiceAccount in every namespace (which Pods run as when they name none).

Aggregation runs synchronously after every ClusterRole write (and at start), as namespace cleanup
does here: each ClusterRole with an `aggregationRule` gets `.rules` = the union of the rules of the
ClusterRoles its selectors match (rbac.aggregate_rules), repeated until nothing changes so that chains
(admin ⊇ edit ⊇ view) settle. The authorizer then reads `.rules` only, as the real one does.
"""

from __future__ import annotations

import copy
import threading

from tfcontroller.dev.cluster import bootstrap, errors
from tfcontroller.dev.cluster.api import Api
from tfcontroller.dev.cluster.rbac import RBAC, aggregate_rules

MANAGER = "clusterrole-aggregation-controller"
_MAX_PASSES = 10


class PolicyController:
    def __init__(self, api: Api) -> None:
        self.api = api
        self._lock = threading.Lock()

    def ensure_bootstrap(self) -> None:
        """Create the default ClusterRoles and bindings that are missing (kept as they are otherwise)."""
        for plural, objects in (("clusterroles", bootstrap.CLUSTER_ROLES),
                                ("clusterrolebindings", bootstrap.CLUSTER_ROLE_BINDINGS)):
            info = self.api.info_for(RBAC, plural)
            assert info is not None
            for obj in objects:
                if self.api.store.get(RBAC, plural, "", obj["metadata"]["name"]) is None:
                    try:
                        self.api.create(info, None, copy.deepcopy(obj), manager="kube-apiserver")
                    except errors.ApiError as exc:
                        if exc.code != 409:
                            raise
        self.aggregate()
        self.ensure_default_service_accounts()

    def aggregate(self) -> None:
        info = self.api.info_for(RBAC, "clusterroles")
        assert info is not None
        with self._lock:
            for _ in range(_MAX_PASSES):
                changed = False
                roles = self.api.store.list(RBAC, "clusterroles")
                for role in roles:
                    rules = aggregate_rules(role, roles)
                    if rules is None or rules == (role.get("rules") or []):
                        continue
                    role["rules"] = rules
                    try:
                        with self.api.store.lock:  # a PUT would re-create a ClusterRole deleted since the list
                            if self.api.store.get(RBAC, "clusterroles", "", role["metadata"]["name"]) is None:
                                continue
                            self.api.update(info, None, role["metadata"]["name"], role, manager=MANAGER)
                    except errors.ApiError as exc:
                        if exc.code not in (404, 409):  # gone or changed meanwhile: the next pass sees it
                            raise
                    changed = True
                if not changed:
                    return

    def ensure_default_service_accounts(self, namespace: str | None = None) -> None:
        """Create ServiceAccount `default` in `namespace` (or every namespace) where it is missing and the
        namespace is not terminating, as the real ServiceAccount controller does (also after a delete)."""
        info = self.api.info_for("", "serviceaccounts")
        assert info is not None
        names = [namespace] if namespace else [n["metadata"]["name"] for n in self.api.store.list("", "namespaces")]
        for ns in names:
            obj = self.api.store.get("", "namespaces", "", ns)
            if obj is None or obj["metadata"].get("deletionTimestamp"):
                continue
            if self.api.store.get("", "serviceaccounts", ns, "default") is not None:
                continue
            try:
                self.api.create(info, ns, {"metadata": {"name": "default"}}, manager="kube-controller-manager")
            except errors.ApiError as exc:
                if exc.code not in (403, 404, 409):  # terminating, gone, or created meanwhile
                    raise
