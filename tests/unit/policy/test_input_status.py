"""The policy input (masked show -json plus input.tfcontroller: no secret string survives) and the
status.plan.policy shape (capped messages, exceptions shown)."""

from __future__ import annotations

import json

from tfcontroller.policy.evaluate import PolicyReport, PolicyResult, overall
from tfcontroller.policy.input import PolicyMeta, policy_input
from tfcontroller.policy.status import MAX_MESSAGE_CHARS, MAX_MESSAGES, report_to_status, summary

SECRETS = ("var-secret-1", "old-pw-2", "new-pw-3", "out-pw-4", "drift-pw-5", "prior-pw-6", "default-pw-7",
           "child-default-8")

SHOW = {
    "format_version": "1.2",
    "variables": {"db_password": {"value": "var-secret-1"}, "region": {"value": "eu-west-1"}},
    "resource_changes": [{"address": "aws_db_instance.main", "type": "aws_db_instance", "change": {
        "actions": ["update"], "before": {"password": "old-pw-2", "instance_class": "db.t3.micro"},
        "after": {"password": "new-pw-3", "instance_class": "db.t3.small"},
        "before_sensitive": {"password": True}, "after_sensitive": {"password": True}, "after_unknown": {}}}],
    "resource_drift": [{"address": "aws_db_instance.main", "change": {
        "actions": ["update"], "before": {"password": "drift-pw-5"}, "after": {"password": "drift-pw-5"},
        "before_sensitive": {"password": True}, "after_sensitive": {"password": True}}}],
    "output_changes": {"pw": {"actions": ["create"], "after": "out-pw-4", "after_sensitive": True}},
    "planned_values": {"outputs": {"pw": {"sensitive": True, "value": "out-pw-4"}},
                       "root_module": {"resources": [{"values": {"password": "new-pw-3"},
                                                      "sensitive_values": {"password": True}}]}},
    "prior_state": {"values": {"root_module": {"child_modules": [
        {"resources": [{"values": {"password": "prior-pw-6"}, "sensitive_values": {"password": True}}]}]}}},
    "configuration": {"root_module": {
        "variables": {"db_password": {"sensitive": True, "default": "default-pw-7"}, "region": {"default": "eu-west-1"}},
        "module_calls": {"child": {"source": "./child", "module": {"variables": {
            "token": {"sensitive": True, "default": "child-default-8"}}}}}}},
}

META = PolicyMeta(namespace="team-a", name="infra", labels={"env": "prod"}, revision="main@sha1:abc",
                  plan_id="plan-main-abc-123", is_drift=True, is_destroy=False)


def test_no_secret_survives_in_the_input() -> None:
    doc = policy_input(SHOW, META)
    text = json.dumps(doc)
    for secret in SECRETS:
        assert secret not in text, secret
    change = doc["resource_changes"][0]["change"]
    assert change["after"] == {"password": "(sensitive)", "instance_class": "db.t3.small"}  # the rest readable
    assert doc["variables"]["region"]["value"] == "(hidden)"
    assert doc["configuration"]["root_module"]["variables"]["region"]["default"] == "eu-west-1"
    assert SHOW["variables"]["db_password"]["value"] == "var-secret-1"  # the caller's document is untouched


def test_tfcontroller_metadata() -> None:
    assert policy_input(SHOW, META)["tfcontroller"] == {
        "namespace": "team-a", "name": "infra", "labels": {"env": "prod"}, "revision": "main@sha1:abc",
        "planId": "plan-main-abc-123", "isDrift": True, "isDestroy": False}


def test_status_shape() -> None:
    results = [PolicyResult("team-a/protect", denies=["bucket deleted"], waived=True, exception="let-it-go"),
               PolicyResult("platform/tags", enforcement="warn", warnings=["no owner"]),
               PolicyResult("team-a/broken", error="did not finish within 5s", failure_policy="Open"),
               PolicyResult("team-a/fine")]
    report = PolicyReport(result=overall(results), results=results, digest="sha256:ab", evaluated_at="2026-11-30T04:00:00Z")
    assert report_to_status(report) == {
        "result": "warned", "evaluatedAt": "2026-11-30T04:00:00Z", "policiesDigest": "sha256:ab",
        "results": [
            {"policy": "team-a/protect", "enforcement": "deny", "result": "waived", "messages": ["bucket deleted"],
             "exception": "let-it-go"},
            {"policy": "platform/tags", "enforcement": "warn", "result": "warned", "messages": ["no owner"]},
            {"policy": "team-a/broken", "enforcement": "deny", "result": "error",
             "messages": ["did not finish within 5s"]},
            {"policy": "team-a/fine", "enforcement": "deny", "result": "passed", "messages": []},
        ]}


def test_messages_are_capped() -> None:
    many = [f"resource {i} " + "x" * 2000 for i in range(500)]
    report = PolicyReport(result="denied", results=[PolicyResult("ns/p", denies=many)])
    messages = report_to_status(report)["results"][0]["messages"]
    assert len(messages) == MAX_MESSAGES + 1 and messages[-1] == f"… and {500 - MAX_MESSAGES} more"
    assert all(len(m) <= MAX_MESSAGE_CHARS for m in messages)


def test_summary_names_blocking_policies_first() -> None:
    results = [PolicyResult("ns/w", warnings=["just a warning"]), PolicyResult("ns/d", denies=["a", "b", "c", "d"])]
    report = PolicyReport(result="denied", results=results)
    assert summary(report) == "ns/d: a; ns/d: b; ns/d: c (1 more)"
    assert summary(PolicyReport(result="warned", results=results[:1])) == "ns/w: just a warning"


def test_a_sensitive_value_repeated_unmarked_is_concealed_too() -> None:
    """The aws provider copies `tags` into `tags_all` without the sensitive mark (a real plan in
    examples/policies/testdata/ shows it): the value is hidden wherever it reappears, map keys included."""
    doc = {"format_version": "1.2",
           "variables": {"token": {"value": "tok-abcdef"}},
           "configuration": {"root_module": {"variables": {"token": {"sensitive": True}}}},
           "resource_changes": [{"address": "aws_sqs_queue.q", "change": {
               "actions": ["create"], "after": {"tags": {"t": "tok-abcdef"}, "tags_all": {"t": "tok-abcdef"},
                                                "name": "q-tok-abcdef-suffix", "labels": {"tok-abcdef": "k"}},
               "after_sensitive": {"tags": {"t": True}, "tags_all": {}}}}]}
    out = policy_input(doc, META, secrets=["from-a-secret-123"])
    assert "tok-abcdef" not in json.dumps(out)
    after = out["resource_changes"][0]["change"]["after"]
    assert after["tags_all"] == {"t": "(sensitive)"} and after["name"] == "(sensitive)"
    doc["resource_changes"][0]["change"]["after"]["description"] = "uses from-a-secret-123"
    assert "from-a-secret-123" not in json.dumps(policy_input(doc, META, secrets=["from-a-secret-123"]))
