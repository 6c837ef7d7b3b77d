"""k8s.io/apimachinery meta/v1 messages every object uses: ObjectMeta, OwnerReference, LabelSelector.

Field numbers from apimachinery's pkg/apis/meta/v1/generated.proto.
"""

from __future__ import annotations

from tfcontroller.dev.cluster.protobuf.wire import KEEP, OMIT, PTR, Field, Message, b, i, many, s, strs

OWNER_REFERENCE = Message("OwnerReference", {
    5: s("apiVersion", KEEP), 1: s("kind", KEEP), 3: s("name", KEEP), 4: s("uid", KEEP),
    6: b("controller", PTR), 7: b("blockOwnerDeletion", PTR),
})

OBJECT_META = Message("ObjectMeta", {
    1: s("name"), 2: s("generateName"), 3: s("namespace"), 4: s("selfLink"), 5: s("uid"),
    6: s("resourceVersion"), 7: i("generation"), 8: Field("creationTimestamp", "time", KEEP),
    9: Field("deletionTimestamp", "time", PTR), 10: i("deletionGracePeriodSeconds", PTR),
    11: Field("labels", "map"), 12: Field("annotations", "map"), 13: many("ownerReferences", OWNER_REFERENCE),
    14: strs("finalizers"),
})

LABEL_SELECTOR = Message("LabelSelector", {
    1: Field("matchLabels", "map"),
    2: many("matchExpressions", Message("LabelSelectorRequirement", {
        1: s("key", KEEP), 2: s("operator", KEEP), 3: strs("values"),
    })),
})

LOCAL_OBJECT_REFERENCE = Message("LocalObjectReference", {1: s("name", OMIT)})
