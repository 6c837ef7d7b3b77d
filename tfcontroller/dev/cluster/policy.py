"""What the real control plane does to RBAC objects on its own: the bootstrap policy at start and the
clusterrole-aggregation controller.

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
                        self.api.update(info, None, role["metadata"]["name"], role, manager=MANAGER)
                    except errors.ApiError as exc:
                        if exc.code not in (404, 409):  # gone or changed meanwhile: the next pass sees it
                            raise
                    changed = True
                if not changed:
                    return
