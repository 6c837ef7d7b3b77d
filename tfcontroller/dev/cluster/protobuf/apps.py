"""apps/v1 Deployment: `kubectl create deployment NAME --image=… [--replicas] [--port] [-- command]`.

Field numbers from k8s.io/api apps/v1/generated.proto.
"""

from __future__ import annotations

from tfcontroller.dev.cluster.protobuf.meta import LABEL_SELECTOR, OBJECT_META
from tfcontroller.dev.cluster.protobuf.pod import POD_TEMPLATE_SPEC
from tfcontroller.dev.cluster.protobuf.wire import PTR, Field, Message, b, i, one, s

GROUP = "apps/v1"

ROLLING_UPDATE = Message("RollingUpdateDeployment", {
    1: Field("maxUnavailable", "intstr", PTR), 2: Field("maxSurge", "intstr", PTR),
})
DEPLOYMENT_SPEC = Message("DeploymentSpec", {
    1: i("replicas", PTR), 2: one("selector", LABEL_SELECTOR, PTR), 3: one("template", POD_TEMPLATE_SPEC),
    4: one("strategy", Message("DeploymentStrategy", {1: s("type"), 2: one("rollingUpdate", ROLLING_UPDATE, PTR)})),
    5: i("minReadySeconds"), 6: i("revisionHistoryLimit", PTR), 7: b("paused"), 9: i("progressDeadlineSeconds", PTR),
})
DEPLOYMENT = Message("Deployment", {
    1: one("metadata", OBJECT_META), 2: one("spec", DEPLOYMENT_SPEC),
    3: one("status", Message("DeploymentStatus", {2: i("replicas")})),
})

KINDS = {(GROUP, "Deployment"): DEPLOYMENT}
