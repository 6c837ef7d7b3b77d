"""A Pod's ServiceAccount, as the API server's ServiceAccount admission plugin and the controller
manager's ServiceAccount and root-CA publishers provide it:

- `serviceAccountName` defaults to `default`; a Pod naming a ServiceAccount that does not exist is
  refused (403 `error looking up service account NS/NAME: serviceaccount "NAME" not found`);
- unless `automountServiceAccountToken: false` (on the Pod, else on the ServiceAccount), the Pod gets the
  `kube-api-access-<random>` projected volume — a bound ServiceAccount token (3607 s), `ca.crt` from the
  `kube-root-ca.crt` ConfigMap and the namespace — mounted read-only at
  /var/run/secrets/kubernetes.io/serviceaccount in every container and init container;
- every namespace a Pod is created in has the `kube-root-ca.crt` ConfigMap (created on that first Pod,
  not when the namespace is created: docs/dev-cluster.md) and the `default` ServiceAccount (kept by the
  cluster's ServiceAccount controller; created here too should it be missing).

`inject_api_access` is pure (unit-tested); `Admission` does the lookups and creations.
"""

from __future__ import annotations

from typing import Any

from tfcontroller.dev.cluster import errors
from tfcontroller.dev.cluster.meta import generated_name

Obj = dict[str, Any]
MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
ROOT_CA = "kube-root-ca.crt"
TOKEN_SECONDS = 3607  # what the admission plugin asks for (an hour, plus the kubelet's jitter)


def api_access_volume(name: str) -> Obj:
    return {"name": name, "projected": {"defaultMode": 420, "sources": [
        {"serviceAccountToken": {"expirationSeconds": TOKEN_SECONDS, "path": "token"}},
        {"configMap": {"name": ROOT_CA, "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace",
                                    "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
    ]}}


def wants_token(pod: Obj, service_account: Obj | None) -> bool:
    spec = pod.get("spec") or {}
    if spec.get("automountServiceAccountToken") is not None:
        return bool(spec["automountServiceAccountToken"])
    if service_account is not None and service_account.get("automountServiceAccountToken") is not None:
        return bool(service_account["automountServiceAccountToken"])
    return True


def inject_api_access(pod: Obj, volume_name: str) -> None:
    """Add the kube-api-access volume and its mounts (skipping containers that mount that path already)."""
    spec = pod.setdefault("spec", {})
    if any(str(v.get("name", "")).startswith("kube-api-access-") for v in spec.get("volumes") or []):
        return
    spec["volumes"] = [*(spec.get("volumes") or []), api_access_volume(volume_name)]
    for key in ("initContainers", "containers"):
        for container in spec.get(key) or []:
            mounts = container.get("volumeMounts") or []
            if any(m.get("mountPath") == MOUNT_PATH for m in mounts):
                continue
            container["volumeMounts"] = [*mounts, {"name": volume_name, "mountPath": MOUNT_PATH, "readOnly": True}]


class Admission:
    """The mutating admission of Pods (hooked into Api.create by the node)."""

    def __init__(self, api: Any, ca_pem: bytes | None) -> None:
        self.api = api
        self.ca_pem = ca_pem

    def __call__(self, info: Any, obj: Obj) -> None:
        if (info.group, info.plural) != ("", "pods"):
            return
        meta, spec = obj["metadata"], obj.setdefault("spec", {})
        namespace = meta.get("namespace", "default")
        name = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
        spec["serviceAccountName"] = spec["serviceAccount"] = name
        self._publish(namespace)
        sa = self.api.store.get("", "serviceaccounts", namespace, name)
        if sa is None:
            raise errors.forbidden(f'pods "{meta.get("name") or meta.get("generateName", "")}" is forbidden: error '
                                   f"looking up service account {namespace}/{name}: serviceaccount \"{name}\" not found",
                                   "", "pods", meta.get("name", ""))
        if wants_token(obj, sa):
            inject_api_access(obj, generated_name("kube-api-access-"))

    def _publish(self, namespace: str) -> None:
        """The `default` ServiceAccount and the `kube-root-ca.crt` ConfigMap of the namespace."""
        store = self.api.store
        if store.get("", "serviceaccounts", namespace, "default") is None:
            info = self.api.registry.lookup("", "v1", "serviceaccounts")
            self.api.create(info, namespace, {"metadata": {"name": "default"}})
        if self.ca_pem is not None and store.get("", "configmaps", namespace, ROOT_CA) is None:
            info = self.api.registry.lookup("", "v1", "configmaps")
            self.api.create(info, namespace, {"metadata": {"name": ROOT_CA, "annotations": {
                "kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver "
                                             "when using internal endpoints such as the internal service IP or "
                                             "kubernetes.default.svc. No other usage is guaranteed across "
                                             "distributions of Kubernetes clusters."}},
                "data": {"ca.crt": self.ca_pem.decode()}})
