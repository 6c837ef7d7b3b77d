"""`spec.healthChecks` end to end (issue 20) with real terraform, the dev cluster and a loopback HTTP server
whose answer the test sets: an apply whose service does not answer leaves Ready=False `HealthCheckFailed`
(Healthy=False naming the check, the sensitive output masked, a Warning Event) and is checked again after
`retryInterval`; once the service answers, the next reconcile turns Ready=True without running Terraform;
a later failure is seen on a reconcile that plans nothing (checks repeat every interval); a check naming
an output the module lacks is Stalled `HealthCheckInvalid`; a dependant waits while the checks fail.
The test's controller denies what a deployed one does (the default list, its own and the API server's
addresses) with one exception, loopback (`--health-check-allow-cidrs=127.0.0.0/8,::1`, review s19 finding 3);
without it the same loopback target is Stalled `HealthCheckInvalid` naming the flags, and nothing reaches
the service (review of issue 20, finding 3)."""

from __future__ import annotations

import http.server
import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.terraform_helpers import Harness, condition, ready_reason
from tfcontroller.api import conditions as c
from tfcontroller.api.healthchecks import parse_deny_cidrs
from tfcontroller.controllers.terraform import TerraformOptions, probe_policy

# what `tfcontroller run --health-check-allow-cidrs=127.0.0.0/8,::1` gives: every default denied (the controller's
# own addresses and the API server's included) but loopback, where the test's service listens
DEPLOYED = probe_policy(TerraformOptions(), os.environ, None)
LOOPBACK_ALLOWED = probe_policy(TerraformOptions(health_check_allow=parse_deny_cidrs("127.0.0.0/8,::1")), os.environ,
                                None)

TOKEN = "hc-token-0123456789abcdef"

SERVICE_TF = f"""
variable "port" {{
  type = number
}}

resource "terraform_data" "this" {{
  input = var.port
}}

output "host" {{
  value = "127.0.0.1"
}}

output "port" {{
  value = terraform_data.this.output
}}

output "token" {{
  value     = "{TOKEN}"
  sensitive = true
}}
"""


class Service:
    """A loopback HTTP server answering /healthz with `status` (the test changes it)."""

    def __init__(self) -> None:
        service = self
        self.status = 503
        self.requests = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                service.requests += 1
                self.send_response(service.status if self.path.startswith("/healthz") else 404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def service() -> Iterator[Service]:
    s = Service()
    try:
        yield s
    finally:
        s.close()


CHECKS = [
    {"name": "port-open", "type": "tcp", "address": "{{ .host }}:{{ .port }}", "timeout": "1s"},
    {"name": "healthz", "type": "http", "url": "http://{{ .host }}:{{ .port }}/healthz?t={{ .token }}",
     "timeout": "1s"},
]


@pytest.mark.runner_modes
def test_health_checks_gate_ready_and_repeat(harness: Harness, git_file_remote, service: Service) -> None:
    harness.options.health_probes = LOOPBACK_ALLOWED  # as the operator's flag would
    remote = git_file_remote("health")
    harness.publish("src", remote.bare, remote.commit({"tf/main.tf": SERVICE_TF}))
    harness.create("svc", path="./tf", retryInterval="7s", driftDetection={"disabled": True},
                   vars=[{"name": "port", "value": service.port}], healthChecks=CHECKS)

    obj = harness.reconcile_until("svc", lambda o: condition(o, c.HEALTHY) is not None, what="apply and checks")
    assert condition(obj, c.APPLIED).status == c.TRUE
    assert ready_reason(obj) == "False/HealthCheckFailed"
    healthy = condition(obj, c.HEALTHY)
    assert (healthy.status, healthy.reason) == (c.FALSE, "HealthCheckFailed")
    assert healthy.message == (f"1 of 2 health checks failed: healthz (http://127.0.0.1:{service.port}/healthz"
                               "?t=(sensitive)): HTTP status 503, expected 2xx")
    assert TOKEN not in str(obj["status"])
    assert condition(obj, c.RECONCILING) is not None and condition(obj, c.STALLED) is None
    warnings = [e for e in harness.events("svc") if e["reason"] == "HealthCheckFailed"]
    assert warnings and warnings[0]["type"] == "Warning" and TOKEN not in warnings[0]["message"]
    # retried after retryInterval, not with the error backoff
    assert harness.reconciler.reconcile("default/svc").requeue_after == 7.0

    # The service comes up: the next reconcile is Ready, with no Terraform run (inputs unchanged).
    service.status = 200
    applied_plan = obj["status"]["lastAppliedPlan"]
    obj = harness.reconcile("svc")
    assert condition(obj, c.READY).status == c.TRUE, obj["status"]
    assert condition(obj, c.HEALTHY).reason == "HealthChecksPassed"
    assert condition(obj, c.HEALTHY).message == "2 health checks passed: port-open, healthz"
    assert obj["status"]["lastAppliedPlan"] == applied_plan
    assert list(harness.reconciler.runs_dir.iterdir()) == []
    assert harness.reconciler.reconcile("default/svc").requeue_after == 3600.0  # the interval

    # It goes down again: a reconcile that plans nothing still checks.
    service.status = 500
    before = service.requests
    obj = harness.reconcile("svc")
    assert ready_reason(obj) == "False/HealthCheckFailed"
    assert "HTTP status 500" in condition(obj, c.HEALTHY).message
    assert service.requests > before

    # A dependant waits for the checks (dependsOn waits on Ready).
    harness.create("downstream", path="./tf", vars=[{"name": "port", "value": 1}],
                   dependsOn=[{"name": "svc"}], backendConfig={"secretSuffix": "downstream"})
    assert ready_reason(harness.reconcile("downstream")) == "False/DependencyNotReady"

    # With the default deny list, the loopback service is out of reach: invalid (no retry can help), the
    # message says which flag changes that, and no probe reached the service.
    harness.options.health_probes = DEPLOYED
    before = service.requests
    obj = harness.reconcile("svc")
    assert ready_reason(obj) == "False/HealthCheckInvalid"
    stalled = condition(obj, c.STALLED)
    assert stalled is not None and stalled.reason == "HealthCheckInvalid"
    assert "spec.healthChecks[1].url: 127.0.0.1 is in 127.0.0.0/8, which health checks may not reach " in \
        stalled.message and "--health-check-allow-cidrs" in stalled.message
    assert TOKEN not in stalled.message and service.requests == before
    harness.options.health_probes = LOOPBACK_ALLOWED

    # A check naming an output the module lacks cannot pass until the module or the spec changes.
    harness.patch("svc", {"spec": {"healthChecks": [*CHECKS, {"name": "cache", "type": "tcp",
                                                              "address": "{{ .cache_host }}:6379"}]}})
    service.status = 200
    obj = harness.reconcile("svc")
    assert ready_reason(obj) == "False/HealthCheckInvalid"
    stalled = condition(obj, c.STALLED)
    assert stalled is not None and stalled.reason == "HealthCheckInvalid"
    assert "spec.healthChecks[2].address: the module has no output 'cache_host' (it has: host, port, token)" \
        in stalled.message

    # Checks removed: Healthy goes away and Ready returns.
    harness.patch("svc", {"spec": {"healthChecks": None}})
    obj = harness.reconcile("svc")
    assert condition(obj, c.READY).status == c.TRUE and condition(obj, c.HEALTHY) is None
