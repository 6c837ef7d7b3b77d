"""The example policies of examples/policies/, each on a real `terraform show -json` (aws provider 5.100.0,
examples/policies/testdata/: a create plan made with real terraform and no cloud) and on documents
derived from it (the same resource changes with other actions or attributes, in Terraform's format), through
the real engine. Each example's rule and the cases around its edge: delete vs replace vs forget, created vs
updated vs deleted, canned ACL vs grant, allowlist with and without data."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.paths import REPO_ROOT
from tfcontroller.policy.bundle import compile_check, load_policy_dir
from tfcontroller.policy.evaluate import PolicyReport, PolicySpecView, evaluate
from tfcontroller.policy.exceptions import ExceptionView, apply_exceptions
from tfcontroller.policy.input import PolicyMeta, policy_input

EXAMPLES = REPO_ROOT / "examples" / "policies"
REAL_PLAN: dict[str, Any] = json.loads((EXAMPLES / "testdata" / "plan-aws-5.100.0.json").read_text())
PLAN_ID = "plan-main-0123456789-abcdef01"
META = PolicyMeta(namespace="team-a", name="infra", plan_id=PLAN_ID)


def _run(policy: str, doc: dict[str, Any], data: Any = None) -> PolicyReport:
    bundle = load_policy_dir(EXAMPLES, policy, name=f"platform/{policy}", data=data)
    return evaluate([(PolicySpecView(f"platform/{policy}"), bundle)], policy_input(doc, META), timeout=30)


def _with(changes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The real plan with some resource changes' `change` fields replaced (address → fields)."""
    doc = copy.deepcopy(REAL_PLAN)
    for rc in doc["resource_changes"]:
        rc["change"].update(changes.get(rc["address"], {}))
    return doc


def _denies(report: PolicyReport) -> list[str]:
    assert all(not r.error for r in report.results), report
    return sorted(m for r in report.results for m in r.denies)


@pytest.mark.parametrize("policy", ["protect-stateful", "required-tags", "no-public-s3", "instance-types"])
def test_every_example_compiles(policy: str) -> None:
    assert compile_check(load_policy_dir(EXAMPLES, policy)) == []


def test_the_fixture_is_a_real_aws_plan() -> None:
    assert REAL_PLAN["terraform_version"] == "1.11.4"
    types = {rc["type"] for rc in REAL_PLAN["resource_changes"]}
    assert {"aws_s3_bucket", "aws_s3_bucket_acl", "aws_instance", "aws_dynamodb_table"} <= types
    text = json.dumps(policy_input(REAL_PLAN, META))
    assert "example-sensitive-default" not in text  # the sensitive variable, in clear in the fixture


# --- protect-stateful -------------------------------------------------------------------------------


def test_protect_passes_creates() -> None:
    assert _denies(_run("protect-stateful", REAL_PLAN)) == []


@pytest.mark.parametrize("address,actions,verb", [
    ("aws_s3_bucket.logs", ["delete"], "deleted"),
    ("aws_dynamodb_table.orders", ["delete"], "deleted"),
    ("aws_dynamodb_table.orders", ["delete", "create"], "replaced"),
    ("aws_s3_bucket.untagged", ["create", "delete"], "replaced"),
])
def test_protect_denies_deletes_and_replacements(address: str, actions: list[str], verb: str) -> None:
    denies = _denies(_run("protect-stateful", _with({address: {"actions": actions}})))
    assert denies == [f"{address} would be {verb}: {address.split('.')[0]} holds data; create a "
                      f"PolicyException for plan {PLAN_ID} if this is intended"]


@pytest.mark.parametrize("address,actions", [
    ("aws_sqs_queue.jobs", ["delete"]),  # not a protected type
    ("aws_s3_bucket_acl.logs", ["delete"]),  # the bucket's ACL, not the bucket
    ("aws_s3_bucket.logs", ["forget"]),  # a `removed` block without destroy: the bucket stays
    ("aws_s3_bucket.logs", ["update"]),
])
def test_protect_lets_other_changes_through(address: str, actions: list[str]) -> None:
    assert _denies(_run("protect-stateful", _with({address: {"actions": actions}}))) == []


def test_protect_a_plan_id_exception_is_the_way_through() -> None:
    report = _run("protect-stateful", _with({"aws_s3_bucket.logs": {"actions": ["delete"]}}))
    waiver = ExceptionView("team-a", "retire-logs", "infra", PLAN_ID, ("platform/protect-stateful",), "retired")
    assert apply_exceptions(report, [waiver], PLAN_ID, namespace="team-a", name="infra").result == "warned"
    other = ExceptionView("team-a", "old", "infra", "plan-main-0123456789-00000000", ("platform/protect-stateful",))
    assert apply_exceptions(report, [other], PLAN_ID, namespace="team-a", name="infra").result == "denied"


# --- required-tags ----------------------------------------------------------------------------------


def test_tags_on_the_real_plan() -> None:
    # untagged lacks cost-center; the ACL and the access block have no tags argument; the rest is tagged
    assert _denies(_run("required-tags", REAL_PLAN)) == ["aws_s3_bucket.untagged lacks the tag(s) cost-center"]


def test_tags_updates_checked_deletes_not() -> None:
    no_tags = {"tags": None, "tags_all": {}}
    doc = _with({"aws_instance.web": {"actions": ["update"], "after": {**_after("aws_instance.web"), **no_tags}},
                 "aws_dynamodb_table.orders": {"actions": ["delete"], "after": None},
                 "aws_s3_bucket.untagged": {"after": {**_after("aws_s3_bucket.untagged"), "tags": None,
                                                      "tags_all": {"owner": "x", "cost-center": "from-default-tags"}}}})
    assert _denies(_run("required-tags", doc)) == ["aws_instance.web lacks the tag(s) owner, cost-center"]


def _after(address: str) -> dict[str, Any]:
    return dict(next(rc["change"]["after"] for rc in REAL_PLAN["resource_changes"] if rc["address"] == address))


# --- no-public-s3 -----------------------------------------------------------------------------------


def test_public_s3_on_the_real_plan() -> None:
    assert _denies(_run("no-public-s3", REAL_PLAN)) == [
        "aws_s3_bucket_acl.logs sets the public ACL public-read",
        "aws_s3_bucket_public_access_block.logs sets block_public_policy = false: the bucket may become public"]


@pytest.mark.parametrize("acl,want", [("private", 0), ("public-read-write", 1), ("log-delivery-write", 0)])
def test_public_s3_canned_acls(acl: str, want: int) -> None:
    doc = _with({"aws_s3_bucket_acl.logs": {"after": {**_after("aws_s3_bucket_acl.logs"), "acl": acl}},
                 "aws_s3_bucket_public_access_block.logs": {"actions": ["no-op"]}})
    assert len(_denies(_run("no-public-s3", doc))) == want


def test_public_s3_grant_to_all_users_and_all_blocks_true() -> None:
    grant = [{"grant": [{"grantee": [{"type": "Group", "uri": "http://acs.amazonaws.com/groups/global/AllUsers"}],
                         "permission": "READ"}], "owner": []}]
    block = {**_after("aws_s3_bucket_public_access_block.logs"), "block_public_policy": True}
    doc = _with({"aws_s3_bucket_acl.logs": {"after": {**_after("aws_s3_bucket_acl.logs"), "acl": None,
                                                      "access_control_policy": grant}},
                 "aws_s3_bucket_public_access_block.logs": {"after": block}})
    assert _denies(_run("no-public-s3", doc)) == [
        "aws_s3_bucket_acl.logs grants READ to http://acs.amazonaws.com/groups/global/AllUsers"]


# --- instance-types ---------------------------------------------------------------------------------

DATA = yaml.safe_load((EXAMPLES / "instance-types" / "data.yaml").read_text())


def test_instance_types_allowlist() -> None:
    assert _denies(_run("instance-types", REAL_PLAN, DATA)) == [
        'aws_instance.web uses instance type m5.4xlarge, not in the allowed list ["t3.micro", "t3.small", "t3.medium"]']
    small = _with({"aws_instance.web": {"after": {**_after("aws_instance.web"), "instance_type": "t3.small"}}})
    assert _denies(_run("instance-types", small, DATA)) == []
    deleted = _with({"aws_instance.web": {"actions": ["delete"]}})
    assert _denies(_run("instance-types", deleted, DATA)) == []


def test_instance_types_without_data_fail_closed() -> None:
    small = _with({"aws_instance.web": {"after": {**_after("aws_instance.web"), "instance_type": "t3.small"}}})
    assert len(_denies(_run("instance-types", small))) == 1


def test_examples_readme_documents_each_policy() -> None:
    readme = (EXAMPLES / "README.md").read_text()
    for policy in ("protect-stateful", "required-tags", "no-public-s3", "instance-types"):
        assert policy in readme
    assert Path(EXAMPLES / "testdata" / "main.tf").exists()
