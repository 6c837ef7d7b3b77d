"""What the runner prints (issue 15, "Logs"): Terraform's human-readable messages, as Terraform emits them,
scrubbed of every secret value the run knows; never Terraform's raw output.

Against the dev cluster (the state backend), with real terraform and the runner started as local mode
starts it (`terraform.sandbox.start_runner`; sandboxed where the kernel allows). The kind of fault: a
value the module makes Terraform echo — in a provisioner's output or its "Executing" line, in an error's
detail — must not reach the log, whichever way the runner learnt it: a `varsFrom` Secret (a whole value,
or one element of a JSON value feeding a map variable), a sealed value, a variable the module declares
`sensitive` (a whole value, one element of a sensitive map, or a value given as `TF_VAR_` in `spec.env`). Liveness: a
provisioner that holds until the test releases it (a loopback HTTP server, tests/support/holds.py, not a host file: the runner
may be sandboxed) must have its first line in the log while Terraform still runs.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.terraform import cluster_serving
from tests.support.holds import HoldServer
from tests.support.polling import wait_for
from tfcontroller.api import run_protocol as rp
from tfcontroller.api.terraform import EnvVar
from tfcontroller.dev.cluster import DevCluster
from tfcontroller.kube.resources import NAMESPACES, SECRETS
from tfcontroller.terraform.config import TerraformConfig
from tfcontroller.terraform.sandbox import probe, start_runner

NS = "team-out"
FROM_SECRET = "value-from-secret-7f3a"
SEALED = "sealed-value-91bc"
SENSITIVE = "sensitive-plain-4d2e"
MAP_ELEMENT = "map-element-secret-55"
JSON_ELEMENT = "json-element-secret-31"  # an element of a JSON Secret value feeding a map variable
ENV_SENSITIVE = "env-sensitive-66"  # a sensitive variable given as TF_VAR_ in spec.env

VARIABLES_TF = """
variable "from_secret" { type = string }
variable "sealed" {
  type    = string
  default = "none"
}
variable "token" {
  type      = string
  sensitive = true
}
variable "parts" {
  type      = map(string)
  sensitive = true
}
variable "db" { type = map(string) }
variable "api_key" {
  type      = string
  sensitive = true
}
"""

ECHO_TF = VARIABLES_TF + """
resource "terraform_data" "echo" {
  input = var.from_secret
  provisioner "local-exec" {
    command = "echo secret=${var.from_secret} sealed=${var.sealed} token=${nonsensitive(var.token)} part=${nonsensitive(var.parts["k"])} db=${var.db["password"]} key=${nonsensitive(var.api_key)}"
  }
}
"""

FAIL_TF = VARIABLES_TF + """
resource "terraform_data" "a" { input = tonumber(var.from_secret) }
resource "terraform_data" "b" { input = tonumber(var.sealed) }
resource "terraform_data" "c" { input = tonumber(nonsensitive(var.token)) }
resource "terraform_data" "d" { input = tonumber(nonsensitive(var.parts["k"])) }
resource "terraform_data" "e" { input = tonumber(var.db["password"]) }
resource "terraform_data" "f" { input = tonumber(nonsensitive(var.api_key)) }
"""

HOLD_TF = """
variable "hold_url" { type = string }
resource "terraform_data" "hold" {
  provisioner "local-exec" {
    command = "echo holding-now; curl -sf ${var.hold_url}/started; until curl -sf ${var.hold_url}/release; do sleep 0.2; done; echo released-now"
  }
}
"""

SANDBOXED = probe() is None


@dataclass
class Setup:
    cluster: DevCluster
    artifact_url: str
    artifact_digest: str


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    modules = {"echo/main.tf": ECHO_TF, "fail/main.tf": FAIL_TF, "hold/main.tf": HOLD_TF}
    with cluster_serving(tmp_path, modules) as served:
        served.admin.create(NAMESPACES, {"metadata": {"name": NS}})
        served.admin.create(SECRETS, {"metadata": {"name": "creds"}, "stringData": {
            "from_secret": FROM_SECRET, "db": json.dumps({"password": JSON_ELEMENT, "user": "admin"})}}, NS)
        yield Setup(served.cluster, served.artifact_url, served.artifact_digest)


def _request(s: Setup, run_id: str, path: str, operation: str = rp.PLAN, **fields: Any) -> rp.RunRequest:
    base: dict[str, Any] = dict(
        run_id=run_id, operation=operation, namespace=NS, name=path, artifact_url=s.artifact_url,
        artifact_digest=s.artifact_digest, path=path,
        variables={"token": SENSITIVE, "parts": {"k": MAP_ELEMENT, "other": "x"}},
        sealed_variables={"sealed": SEALED}, vars_from=(rp.ValuesFrom("Secret", "creds"),),
        env=(EnvVar("TF_VAR_api_key", ENV_SENSITIVE),))
    base.update(fields)
    return rp.RunRequest(**base)


def _start(s: Setup, exchange: Path, request: rp.RunRequest, plan: bytes | None = None) -> subprocess.Popen[bytes]:
    exchange.mkdir(mode=0o700)
    (exchange / rp.REQUEST_FILE).write_text(json.dumps(request.to_dict()))
    if plan is not None:
        (exchange / rp.PLAN_IN_FILE).write_bytes(plan)
    with open(_log(exchange), "wb") as log:
        return start_runner(exchange, TerraformConfig.from_env(), kubeconfig=Path(s.cluster.kubeconfig),
                            sandboxed=SANDBOXED, log=log)


def _log(exchange: Path) -> Path:
    return exchange.parent / f"{exchange.name}.log"


def _finish(exchange: Path, proc: subprocess.Popen[bytes]) -> tuple[rp.RunResult, str]:
    assert proc.stdin is not None
    try:
        proc.wait(timeout=300)
    finally:
        proc.stdin.close()
    output = _log(exchange).read_text()
    assert (exchange / rp.RESULT_FILE).is_file(), output
    return rp.RunResult.from_dict(json.loads((exchange / rp.RESULT_FILE).read_text())), output


def _plan_and_apply(s: Setup, tmp_path: Path, path: str, **fields: Any) -> tuple[str, str]:
    planned, plan_log = _finish(tmp_path / "plan", _start(s, tmp_path / "plan", _request(s, "p1", path, **fields)))
    assert planned.succeeded, plan_log
    plan = (tmp_path / "plan" / rp.PLAN_OUT_FILE).read_bytes()
    applied, apply_log = _finish(tmp_path / "apply", _start(
        s, tmp_path / "apply", _request(s, "a1", path, rp.APPLY, plan_id="p1", **fields), plan))
    assert applied.succeeded, apply_log
    return plan_log, apply_log


def _assert_no_secret(*texts: str) -> None:
    for text in texts:
        for value in (FROM_SECRET, SEALED, SENSITIVE, MAP_ELEMENT, JSON_ELEMENT, ENV_SENSITIVE):
            assert value not in text, f"{value} leaked into:\n{text}"


def test_values_terraform_echoes_in_provisioner_output_are_scrubbed(setup: Setup, tmp_path: Path) -> None:
    plan_log, apply_log = _plan_and_apply(setup, tmp_path, "echo")
    _assert_no_secret(plan_log, apply_log)
    echoed = [line for line in apply_log.splitlines() if "(local-exec): secret=" in line]
    assert echoed == ["apply: terraform_data.echo: (local-exec): secret=*** sealed=*** token=*** part=*** db=*** "
                      "key=***"], apply_log
    # one line per command start and end, and Terraform's own messages prefixed by the command
    for command, code in (("init", 0), ("plan", 2)):
        assert f"terraform {command}: started" in plan_log
        assert f"terraform {command}: exit {code} after " in plan_log, plan_log
    assert "plan: Plan: 1 to add, 0 to change, 0 to destroy." in plan_log
    assert "terraform apply: exit 0 after " in apply_log
    assert not any(line.lstrip().startswith("{") for line in plan_log.splitlines() + apply_log.splitlines()), \
        "raw -json output was printed"


def test_values_in_error_details_are_scrubbed(setup: Setup, tmp_path: Path) -> None:
    result, output = _finish(tmp_path / "x", _start(setup, tmp_path / "x", _request(setup, "f1", "fail")))
    assert not result.succeeded, output
    _assert_no_secret(output, json.dumps(result.to_dict()))
    details = [line for line in output.splitlines() if line.startswith("plan:") and "cannot convert" in line]
    assert len(details) == 6 and all('cannot convert "***" to number' in line for line in details), output
    assert "plan: Error: Invalid function argument" in output
    assert "plan:   on main.tf line " in output and "terraform plan: exit 1 after " in output


@pytest.fixture
def hold_server() -> Iterator[HoldServer]:
    server = HoldServer()
    try:
        yield server
    finally:
        server.close()


def test_lines_appear_while_terraform_still_runs(setup: Setup, tmp_path: Path, hold_server: HoldServer) -> None:
    hold = hold_server.new()
    fields: dict[str, Any] = {"variables": {"hold_url": hold.url}, "sealed_variables": {}, "vars_from": (),
                              "env": ()}
    planned, plan_log = _finish(tmp_path / "plan", _start(setup, tmp_path / "plan",
                                                          _request(setup, "h1", "hold", **fields)))
    assert planned.succeeded, plan_log
    apply = tmp_path / "apply"
    proc = _start(setup, apply, _request(setup, "h2", "hold", rp.APPLY, plan_id="h1", **fields),
                  (tmp_path / "plan" / rp.PLAN_OUT_FILE).read_bytes())
    try:
        wait_for(hold.started, timeout=120, what="the provisioner to hold")
        wait_for(lambda: "(local-exec): holding-now" in _log(apply).read_text(), timeout=60,
                 what="the provisioner's first line in the runner's log while it holds")
        assert proc.poll() is None and "(local-exec): released-now" not in _log(apply).read_text()
        assert "terraform apply: exit" not in _log(apply).read_text()
    finally:
        hold.release()
    result, output = _finish(apply, proc)
    assert result.succeeded, output
    assert (output.index("(local-exec): holding-now") < output.index("(local-exec): released-now")
            < output.index("terraform apply: exit 0"))
