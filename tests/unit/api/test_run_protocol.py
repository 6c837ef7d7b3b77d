"""The run protocol's messages (api/run_protocol.py): JSON round trips, and a request that names the wrong
field when it is refused, so a broken controller/runner pair says what it sent."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tfcontroller.api import run_protocol as rp
from tfcontroller.api.refs import KeyRef, ValuesFrom
from tfcontroller.api.terraform import EnvVar

DIGEST = "sha256:" + "a" * 64


def _request(**fields: Any) -> rp.RunRequest:
    base: dict[str, Any] = dict(run_id="r-1", operation=rp.PLAN, namespace="team-a", name="web",
                                artifact_url="http://artifacts/x.tar.gz", artifact_digest=DIGEST)
    base.update(fields)
    return rp.RunRequest(**base)


@pytest.mark.parametrize("request_", [
    _request(),
    _request(operation=rp.APPLY, plan_id="plan-main-0123456789-abcdef01", destroy=True, timeout_seconds=60.0),
    _request(operation=rp.FORCE_UNLOCK, lock_id="0c1d2e3f-lock"),
    _request(path="infra/web", workspace="prod", secret_suffix="web-state", variables={"n": 3, "l": [1, None]},
             sealed_variables={"token": "t"},
             vars_from=(ValuesFrom("Secret", "creds", keys=("a", "b")), ValuesFrom("ConfigMap", "c", optional=True)),
             env=(EnvVar("PLAIN", "1"), EnvVar("EMPTY", ""), EnvVar("REF", None, KeyRef("Secret", "s", "k", True))),
             env_from=(ValuesFrom("Secret", "aws"),)),
    _request(declared_variables={}),
    _request(declared_variables={"n": rp.DeclaredVariable("number"), "token": rp.DeclaredVariable(None, True),
                                 "tags": rp.DeclaredVariable("map(string)", False)}),
])
def test_requests_survive_json(request_: rp.RunRequest) -> None:
    assert rp.RunRequest.from_dict(json.loads(json.dumps(request_.to_dict()))) == request_


def test_state_suffix_defaults_to_the_name() -> None:
    assert _request().state_suffix == "web"
    assert _request(secret_suffix="shared").state_suffix == "shared"


@pytest.mark.parametrize(("change", "field"), [
    ({"version": 2}, "version"),
    ({"run_id": "Run_1"}, "run_id"),
    ({"operation": "destroy"}, "operation"),
    ({"namespace": "Team A"}, "namespace"),
    ({"artifact_digest": "sha1:abc"}, "artifact_digest"),
    ({"artifact_url": ""}, "artifact_url"),
    ({"destroy": "yes"}, "destroy"),
    ({"timeout_seconds": 0}, "timeout_seconds"),
    ({"timeout_seconds": True}, "timeout_seconds"),
    ({"variables": []}, "variables"),
    ({"vars_from": [{"kind": "Pod", "name": "x"}]}, "vars_from[0].kind"),
    ({"vars_from": [{"kind": "Secret"}]}, "vars_from[0].name"),
    ({"vars_from": [{"kind": "Secret", "name": "x", "keys": "a"}]}, "vars_from[0].keys"),
    ({"env": [{"name": "1BAD", "value": "x"}]}, "env[0].name"),
    ({"env": [{"name": "A", "value_from": {"kind": "Secret", "name": "s"}}]}, "env[0].value_from.key"),
    ({"env_from": ["aws"]}, "env_from[0]"),
    ({"operation": "apply"}, "plan_id"),
    ({"operation": "force-unlock"}, "lock_id"),
    ({"declared_variables": []}, "declared_variables"),
    ({"declared_variables": {"1bad": {}}}, "declared_variables.1bad"),
    ({"declared_variables": {"n": "number"}}, "declared_variables.n"),
    ({"declared_variables": {"n": {"type": 3}}}, "declared_variables.n.type"),
    ({"declared_variables": {"n": {"sensitive": "yes"}}}, "declared_variables.n.sensitive"),
])
def test_a_wrong_request_names_its_field(change: dict[str, Any], field: str) -> None:
    data = {**_request().to_dict(), **change}
    with pytest.raises(rp.RequestInvalid) as refused:
        rp.RunRequest.from_dict(data)
    assert str(refused.value).startswith(f"{field}: ")


def test_results_survive_json() -> None:
    planned = rp.RunResult("r-1", rp.PLAN, rp.SUCCEEDED, "PlanGenerated", "Plan: 1 to add",
                           plan=rp.PlanSummary(True, 1, 0, 0, DIGEST), show={"format_version": "1.2"},
                           warnings=("w",))
    locked = rp.RunResult("r-2", rp.APPLY, rp.FAILED, "StateLocked", "held", rp.WAITING,
                          lock=rp.LockHolder("id-1", "someone@host", "2026-01-01T00:00:00Z"))
    applied = rp.RunResult("r-3", rp.APPLY, rp.SUCCEEDED, "ApplySucceeded", outputs={"url": False, "pw": True})
    for result in (planned, locked, applied):
        assert rp.RunResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result
    assert planned.succeeded and not locked.succeeded
    with pytest.raises(rp.RequestInvalid):
        rp.RunResult.from_dict({**applied.to_dict(), "outcome": "maybe"})


def test_var_refs_and_tfvars_files_survive_json_and_are_checked() -> None:
    """Issue 20: `spec.vars[].valueFrom` travels as references with their place in spec.vars (the runner's
    messages name the field as the controller's do), `spec.tfVarsFiles` as artifact-relative paths."""
    request = _request(var_refs=(rp.VarRef("db-password", KeyRef("Secret", "db", "password"), 2),
                                 rp.VarRef("port", KeyRef("ConfigMap", "settings", "port", True))),
                       tf_vars_files=("infra/app/prod.tfvars", "infra/common.tfvars.json"))
    assert rp.RunRequest.from_dict(json.loads(json.dumps(request.to_dict()))) == request
    good = request.to_dict()
    for patch, field in [({"var_refs": [{"name": "bad name", "value_from": good["var_refs"][0]["value_from"]}]},
                          "var_refs[0].name"),
                         ({"var_refs": [{"name": "x", "value_from": None}]}, "var_refs[0].value_from"),
                         ({"var_refs": [{"name": "x", "value_from": good["var_refs"][0]["value_from"], "index": -1}]},
                          "var_refs[0].index"),
                         ({"tf_vars_files": ["/etc/x.tfvars"]}, "tf_vars_files[0]"),
                         ({"tf_vars_files": [""]}, "tf_vars_files[0]")]:
        with pytest.raises(rp.RequestInvalid, match=field.replace("[", r"\[").replace("]", r"\]")):
            rp.RunRequest.from_dict({**good, **patch})
