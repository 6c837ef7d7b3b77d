"""networking.k8s.io/v1 Ingress and policy/v1 PodDisruptionBudget: `kubectl create ingress` and
`kubectl create poddisruptionbudget`.

Field numbers from k8s.io/api networking/v1 and policy/v1 generated.proto.
"""

from __future__ import annotations

from tfcontroller.dev.cluster.protobuf.meta import LABEL_SELECTOR, OBJECT_META
from tfcontroller.dev.cluster.protobuf.wire import KEEP, PTR, Field, Message, i, inline, many, one, s, strs

SERVICE_BACKEND = Message("IngressServiceBackend", {
    1: s("name", KEEP), 2: one("port", Message("ServiceBackendPort", {1: s("name"), 2: i("number")})),
})
BACKEND = Message("IngressBackend", {
    4: one("service", SERVICE_BACKEND, PTR),
    3: one("resource", Message("TypedLocalObjectReference", {
        1: s("apiGroup", PTR), 2: s("kind", KEEP), 3: s("name", KEEP),
    }), PTR),
})
HTTP_PATH = Message("HTTPIngressPath", {1: s("path"), 3: s("pathType", PTR), 2: one("backend", BACKEND)})
RULE_VALUE = Message("IngressRuleValue", {
    1: one("http", Message("HTTPIngressRuleValue", {1: many("paths", HTTP_PATH, KEEP)}), PTR),
})
INGRESS_SPEC = Message("IngressSpec", {
    4: s("ingressClassName", PTR), 1: one("defaultBackend", BACKEND, PTR),
    2: many("tls", Message("IngressTLS", {1: strs("hosts"), 2: s("secretName")})),
    3: many("rules", Message("IngressRule", {1: s("host"), 2: inline(RULE_VALUE)})),
})
INGRESS = Message("Ingress", {
    1: one("metadata", OBJECT_META), 2: one("spec", INGRESS_SPEC),
    3: one("status", Message("IngressStatus", {1: one("loadBalancer", Message("IngressLoadBalancerStatus", {}))})),
})

PDB_SPEC = Message("PodDisruptionBudgetSpec", {
    1: Field("minAvailable", "intstr", PTR), 2: one("selector", LABEL_SELECTOR, PTR),
    3: Field("maxUnavailable", "intstr", PTR), 4: s("unhealthyPodEvictionPolicy", PTR),
})
PDB_STATUS = Message("PodDisruptionBudgetStatus", {
    1: i("observedGeneration"), 3: i("disruptionsAllowed", KEEP), 4: i("currentHealthy", KEEP),
    5: i("desiredHealthy", KEEP), 6: i("expectedPods", KEEP),
})
PDB = Message("PodDisruptionBudget", {
    1: one("metadata", OBJECT_META), 2: one("spec", PDB_SPEC), 3: one("status", PDB_STATUS),
})

KINDS = {("networking.k8s.io/v1", "Ingress"): INGRESS, ("policy/v1", "PodDisruptionBudget"): PDB}
