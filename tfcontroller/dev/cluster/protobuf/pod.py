"""core/v1 PodTemplateSpec, PodSpec and Container: the bulk of what `kubectl create job|cronjob|deployment`
send, and of `kubectl create job --from=cronjob/NAME`, which copies a CronJob's whole job template.

Field numbers from k8s.io/api core/v1/generated.proto. Mapped: the fields a runner or tenant Pod uses
(containers and init containers with command, args, env, envFrom, ports, resources, volume mounts,
probes, security context; emptyDir, secret, configMap, downwardAPI and projected volumes — the kinds the
dev node mounts; the Pod-level scalars, security context, node selector, tolerations, image pull
secrets). Any other field set on the wire is refused by name (wire.py), never dropped.
"""

from __future__ import annotations

from tfcontroller.dev.cluster.protobuf.meta import LOCAL_OBJECT_REFERENCE, OBJECT_META
from tfcontroller.dev.cluster.protobuf.wire import KEEP, PTR, Field, Message, b, i, inline, many, one, s, strs

_OPTIONAL = b("optional", PTR)

KEY_TO_PATH = Message("KeyToPath", {1: s("key", KEEP), 2: s("path", KEEP), 3: i("mode", PTR)})
_KEY_SELECTOR = {1: inline(LOCAL_OBJECT_REFERENCE), 2: s("key", KEEP), 3: _OPTIONAL}

_FIELD_REF = one("fieldRef", Message("ObjectFieldSelector", {1: s("apiVersion"), 2: s("fieldPath", KEEP)}), PTR)
_RESOURCE_FIELD_REF = one("resourceFieldRef", Message("ResourceFieldSelector", {
    1: s("containerName"), 2: s("resource", KEEP), 3: Field("divisor", "quantity", KEEP),
}), PTR)
ENV_VAR_SOURCE = Message("EnvVarSource", {
    1: _FIELD_REF,
    2: _RESOURCE_FIELD_REF,
    3: one("configMapKeyRef", Message("ConfigMapKeySelector", _KEY_SELECTOR), PTR),
    4: one("secretKeyRef", Message("SecretKeySelector", _KEY_SELECTOR), PTR),
})
ENV_VAR = Message("EnvVar", {1: s("name", KEEP), 2: s("value"), 3: one("valueFrom", ENV_VAR_SOURCE, PTR)})
_ENV_REF = {1: inline(LOCAL_OBJECT_REFERENCE), 2: _OPTIONAL}
ENV_FROM_SOURCE = Message("EnvFromSource", {
    1: s("prefix"),
    2: one("configMapRef", Message("ConfigMapEnvSource", _ENV_REF), PTR),
    3: one("secretRef", Message("SecretEnvSource", _ENV_REF), PTR),
})

CONTAINER_PORT = Message("ContainerPort", {
    1: s("name"), 2: i("hostPort"), 3: i("containerPort", KEEP), 4: s("protocol"), 5: s("hostIP"),
})
RESOURCES = Message("ResourceRequirements", {1: Field("limits", "qmap"), 2: Field("requests", "qmap")})
VOLUME_MOUNT = Message("VolumeMount", {
    1: s("name", KEEP), 2: b("readOnly"), 7: s("recursiveReadOnly", PTR), 3: s("mountPath", KEEP),
    4: s("subPath"), 5: s("mountPropagation", PTR), 6: s("subPathExpr"),
})
CAPABILITIES = Message("Capabilities", {1: strs("add"), 2: strs("drop")})
SECURITY_CONTEXT = Message("SecurityContext", {
    1: one("capabilities", CAPABILITIES, PTR), 2: b("privileged", PTR), 4: i("runAsUser", PTR),
    8: i("runAsGroup", PTR), 5: b("runAsNonRoot", PTR), 6: b("readOnlyRootFilesystem", PTR),
    7: b("allowPrivilegeEscalation", PTR),
})

PROBE_HANDLER = Message("ProbeHandler", {
    1: one("exec", Message("ExecAction", {1: strs("command")}), PTR),
    2: one("httpGet", Message("HTTPGetAction", {
        1: s("path"), 2: Field("port", "intstr", KEEP), 3: s("host"), 4: s("scheme"),
        5: many("httpHeaders", Message("HTTPHeader", {1: s("name", KEEP), 2: s("value", KEEP)})),
    }), PTR),
    3: one("tcpSocket", Message("TCPSocketAction", {1: Field("port", "intstr", KEEP), 2: s("host")}), PTR),
    4: one("grpc", Message("GRPCAction", {1: i("port", KEEP), 2: s("service", PTR)}), PTR),
})
PROBE = Message("Probe", {
    1: inline(PROBE_HANDLER), 2: i("initialDelaySeconds"), 3: i("timeoutSeconds"), 4: i("periodSeconds"),
    5: i("successThreshold"), 6: i("failureThreshold"), 7: i("terminationGracePeriodSeconds", PTR),
})

CONTAINER = Message("Container", {
    1: s("name", KEEP), 2: s("image"), 3: strs("command"), 4: strs("args"), 5: s("workingDir"),
    6: many("ports", CONTAINER_PORT), 19: many("envFrom", ENV_FROM_SOURCE), 7: many("env", ENV_VAR),
    8: one("resources", RESOURCES), 9: many("volumeMounts", VOLUME_MOUNT),
    10: one("livenessProbe", PROBE, PTR), 11: one("readinessProbe", PROBE, PTR), 22: one("startupProbe", PROBE, PTR),
    13: s("terminationMessagePath"), 20: s("terminationMessagePolicy"), 14: s("imagePullPolicy"),
    15: one("securityContext", SECURITY_CONTEXT, PTR), 16: b("stdin"), 17: b("stdinOnce"), 18: b("tty"),
})

_ITEMS = many("items", KEY_TO_PATH)
DOWNWARD_API_FILES = many("items", Message("DownwardAPIVolumeFile", {
    1: s("path", KEEP), 2: _FIELD_REF, 3: _RESOURCE_FIELD_REF, 4: i("mode", PTR),
}))
VOLUME_PROJECTION = Message("VolumeProjection", {
    1: one("secret", Message("SecretProjection", {1: inline(LOCAL_OBJECT_REFERENCE), 2: _ITEMS, 4: _OPTIONAL}), PTR),
    2: one("downwardAPI", Message("DownwardAPIProjection", {1: DOWNWARD_API_FILES}), PTR),
    3: one("configMap", Message("ConfigMapProjection", {1: inline(LOCAL_OBJECT_REFERENCE), 2: _ITEMS, 4: _OPTIONAL}), PTR),
    4: one("serviceAccountToken", Message("ServiceAccountTokenProjection", {
        1: s("audience"), 2: i("expirationSeconds", PTR), 3: s("path", KEEP),
    }), PTR),
})
VOLUME_SOURCE = Message("VolumeSource", {
    2: one("emptyDir", Message("EmptyDirVolumeSource", {
        1: s("medium"), 2: Field("sizeLimit", "quantity", PTR),
    }), PTR),
    6: one("secret", Message("SecretVolumeSource", {
        1: s("secretName"), 2: _ITEMS, 3: i("defaultMode", PTR), 4: _OPTIONAL,
    }), PTR),
    19: one("configMap", Message("ConfigMapVolumeSource", {
        1: inline(LOCAL_OBJECT_REFERENCE), 2: _ITEMS, 3: i("defaultMode", PTR), 4: _OPTIONAL,
    }), PTR),
    16: one("downwardAPI", Message("DownwardAPIVolumeSource", {1: DOWNWARD_API_FILES, 2: i("defaultMode", PTR)}), PTR),
    26: one("projected", Message("ProjectedVolumeSource", {
        1: many("sources", VOLUME_PROJECTION, KEEP), 2: i("defaultMode", PTR),
    }), PTR),
})
VOLUME = Message("Volume", {1: s("name", KEEP), 2: inline(VOLUME_SOURCE)})

POD_SECURITY_CONTEXT = Message("PodSecurityContext", {
    2: i("runAsUser", PTR), 6: i("runAsGroup", PTR), 3: b("runAsNonRoot", PTR),
    4: Field("supplementalGroups", "int", repeated=True), 5: i("fsGroup", PTR),
})

POD_SPEC = Message("PodSpec", {
    1: many("volumes", VOLUME), 20: many("initContainers", CONTAINER), 2: many("containers", CONTAINER, KEEP),
    3: s("restartPolicy"), 4: i("terminationGracePeriodSeconds", PTR), 5: i("activeDeadlineSeconds", PTR),
    6: s("dnsPolicy"), 7: Field("nodeSelector", "map"), 8: s("serviceAccountName"), 9: s("serviceAccount"),
    21: b("automountServiceAccountToken", PTR), 10: s("nodeName"), 11: b("hostNetwork"), 12: b("hostPID"),
    13: b("hostIPC"), 27: b("shareProcessNamespace", PTR), 14: one("securityContext", POD_SECURITY_CONTEXT, PTR),
    15: many("imagePullSecrets", LOCAL_OBJECT_REFERENCE), 16: s("hostname"), 17: s("subdomain"),
    19: s("schedulerName"), 24: s("priorityClassName"), 25: i("priority", PTR), 29: s("runtimeClassName", PTR),
    30: b("enableServiceLinks", PTR), 31: s("preemptionPolicy", PTR), 35: b("setHostnameAsFQDN", PTR),
    37: b("hostUsers", PTR),
    22: many("tolerations", Message("Toleration", {
        1: s("key"), 2: s("operator"), 3: s("value"), 4: s("effect"), 5: i("tolerationSeconds", PTR),
    })),
})

POD_TEMPLATE_SPEC = Message("PodTemplateSpec", {1: one("metadata", OBJECT_META), 2: one("spec", POD_SPEC)})
