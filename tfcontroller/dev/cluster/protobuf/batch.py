"""batch/v1 Job and CronJob: `kubectl create job [--from=cronjob/NAME]` and `kubectl create cronjob`.

Field numbers from k8s.io/api batch/v1/generated.proto. Status is what a client sends on create: empty.
"""

from __future__ import annotations

from tfcontroller.dev.cluster.protobuf.meta import LABEL_SELECTOR, OBJECT_META
from tfcontroller.dev.cluster.protobuf.pod import POD_TEMPLATE_SPEC
from tfcontroller.dev.cluster.protobuf.wire import KEEP, PTR, Message, b, i, one, s

GROUP = "batch/v1"

JOB_SPEC = Message("JobSpec", {
    1: i("parallelism", PTR), 2: i("completions", PTR), 3: i("activeDeadlineSeconds", PTR),
    7: i("backoffLimit", PTR), 12: i("backoffLimitPerIndex", PTR), 13: i("maxFailedIndexes", PTR),
    4: one("selector", LABEL_SELECTOR, PTR), 5: b("manualSelector", PTR), 6: one("template", POD_TEMPLATE_SPEC),
    8: i("ttlSecondsAfterFinished", PTR), 9: s("completionMode", PTR), 10: b("suspend", PTR),
    14: s("podReplacementPolicy", PTR), 15: s("managedBy", PTR),
})
JOB_STATUS = Message("JobStatus", {4: i("active"), 5: i("succeeded"), 6: i("failed")})
JOB = Message("Job", {1: one("metadata", OBJECT_META), 2: one("spec", JOB_SPEC), 3: one("status", JOB_STATUS)})

JOB_TEMPLATE_SPEC = Message("JobTemplateSpec", {1: one("metadata", OBJECT_META), 2: one("spec", JOB_SPEC)})
CRON_JOB_SPEC = Message("CronJobSpec", {
    1: s("schedule", KEEP), 8: s("timeZone", PTR), 2: i("startingDeadlineSeconds", PTR),
    3: s("concurrencyPolicy"), 4: b("suspend", PTR), 5: one("jobTemplate", JOB_TEMPLATE_SPEC),
    6: i("successfulJobsHistoryLimit", PTR), 7: i("failedJobsHistoryLimit", PTR),
})
CRON_JOB = Message("CronJob", {
    1: one("metadata", OBJECT_META), 2: one("spec", CRON_JOB_SPEC), 3: one("status", Message("CronJobStatus", {})),
})

KINDS = {(GROUP, "Job"): JOB, (GROUP, "CronJob"): CRON_JOB}
