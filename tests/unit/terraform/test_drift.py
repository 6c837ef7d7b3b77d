"""Unit tests of tfcontroller.terraform.drift on hand-written `terraform show -json` plan documents:
which entries count as drift, attribute paths, sensitive masking, the fingerprint and the summary."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tfcontroller.terraform.drift import SENSITIVE, UNKNOWN, analyze, diff_attributes, resource_count


def _entry(address: str, actions: list[str], before: Any, after: Any, **extra: Any) -> dict[str, Any]:
    change = {"actions": actions, "before": before, "after": after, "after_unknown": {},
              "before_sensitive": {}, "after_sensitive": {}}
    change.update(extra)
    return {"address": address, "mode": "managed", "type": address.split(".")[0],
            "name": address.split(".")[1], "change": change}


BUCKET_BEFORE = {"bucket": "b1", "tags": {"env": "prod", "team": "a"}, "versioning": [{"enabled": True}]}
BUCKET_AFTER = {"bucket": "b1", "tags": {"env": "dev", "team": "a", "team name": "x"},
                "versioning": [{"enabled": False}]}


def _doc() -> dict[str, Any]:
    return {
        "format_version": "1.2",
        "resource_drift": [
            _entry("aws_s3_bucket.b", ["update"], BUCKET_BEFORE, BUCKET_AFTER),
            _entry("aws_sqs_queue.q", ["delete"], {"name": "q"}, None),
            {**_entry("data.aws_caller_identity.me", ["update"], {"a": 1}, {"a": 2}), "mode": "data"},
        ],
        "resource_changes": [
            _entry("aws_s3_bucket.b", ["update"], BUCKET_AFTER, BUCKET_BEFORE),
            _entry("aws_sqs_queue.q", ["create"], None, {"name": "q"}),
            _entry("aws_iam_role.r", ["update"], {"x": 1}, {"x": 2}),
        ],
    }


def test_only_resource_drift_entries_count_and_remediation_comes_from_resource_changes() -> None:
    report = analyze(_doc())
    assert report.drifted
    assert report.addresses == ["aws_s3_bucket.b", "aws_sqs_queue.q"]  # not the data source, not the role
    bucket, queue = report.resources
    assert (bucket.action, bucket.remediation) == ("update", "update")
    assert (queue.action, queue.remediation, queue.changed_attributes) == ("delete", "create", [])


def test_attribute_paths_cover_maps_quoted_keys_and_list_elements() -> None:
    bucket = analyze(_doc()).resources[0]
    by_path = {c.path: (c.before, c.after) for c in bucket.changed_attributes}
    assert by_path == {
        "tags.env": ("prod", "dev"),
        'tags["team name"]': (None, "x"),
        "versioning[0].enabled": (True, False),
    }


def test_lists_of_different_length_are_one_change() -> None:
    changes = diff_attributes({"ids": [1, 2]}, {"ids": [1, 2, 3]})
    assert [(c.path, c.before, c.after) for c in changes] == [("ids", [1, 2], [1, 2, 3])]


def test_sensitive_values_are_replaced_and_not_descended_into() -> None:
    doc = {"resource_drift": [_entry(
        "aws_db_instance.db", ["update"],
        {"password": "hunter2", "conf": {"secret_key": "s3cr3t-a", "k": 1}, "name": "db"},
        {"password": "letmein", "conf": {"secret_key": "s3cr3t-b", "k": 1}, "name": "db2"},
        before_sensitive={"password": True, "conf": True}, after_sensitive={"password": True, "conf": True},
    )]}
    report = analyze(doc)
    changes = report.resources[0].changed_attributes
    assert [(c.path, c.before, c.after, c.sensitive) for c in changes] == [
        ("conf", SENSITIVE, SENSITIVE, True),
        ("name", "db", "db2", False),
        ("password", SENSITIVE, SENSITIVE, True),
    ]
    text = repr(report) + report.event_message() + report.summary_message()
    for secret in ("hunter2", "letmein", "s3cr3t-a", "s3cr3t-b", "secret_key"):
        assert secret not in text


def test_sensitive_mark_inside_a_replaced_subtree_is_redacted() -> None:
    changes = diff_attributes(
        {"rules": [{"token": "t-old"}]}, {"rules": [{"token": "t-new"}, {"token": "t-2"}]},
        before_sensitive={"rules": [{"token": True}]},
        after_sensitive={"rules": [{"token": True}, {"token": True}]},
    )
    assert len(changes) == 1
    assert changes[0].before == [{"token": SENSITIVE}]
    assert changes[0].after == [{"token": SENSITIVE}, {"token": SENSITIVE}]


def test_unchanged_sensitive_value_is_not_reported_and_unknown_is_marked() -> None:
    changes = diff_attributes({"p": "same", "arn": "a1"}, {"p": "same"},
                              before_sensitive={"p": True}, after_sensitive={"p": True},
                              after_unknown={"arn": True})
    assert [(c.path, c.before, c.after) for c in changes] == [("arn", "a1", UNKNOWN)]


def test_fingerprint_depends_on_addresses_and_paths_not_values_nor_order() -> None:
    base = analyze(_doc()).fingerprint
    assert base.startswith("sha256:") and len(base) == 7 + 64

    other_values = _doc()
    other_values["resource_drift"][0]["change"]["after"] = {**BUCKET_AFTER, "tags": {
        "env": "staging", "team": "a", "team name": "y"}}
    assert analyze(other_values).fingerprint == base

    reordered = _doc()
    reordered["resource_drift"].reverse()
    assert analyze(reordered).fingerprint == base

    other_path = _doc()  # the bucket renamed outside, and the plan renames it back
    other_path["resource_drift"][0]["change"]["after"] = {**BUCKET_AFTER, "bucket": "b2"}
    other_path["resource_changes"][0]["change"]["before"] = {**BUCKET_AFTER, "bucket": "b2"}
    assert analyze(other_path).fingerprint != base

    fewer = _doc()
    fewer["resource_drift"].pop(1)
    assert analyze(fewer).fingerprint != base


def test_summary_names_at_most_five_resources() -> None:
    doc = {"resource_drift": [_entry(f"aws_sqs_queue.q{i}", ["update"], {"a": 1}, {"a": 2}) for i in range(7)]}
    report = analyze(doc)
    assert report.summary_message() == (
        "7 resources changed outside Terraform: aws_sqs_queue.q0, aws_sqs_queue.q1, aws_sqs_queue.q2, "
        "aws_sqs_queue.q3, aws_sqs_queue.q4 and 2 more")
    assert analyze({"resource_drift": doc["resource_drift"][:1]}).summary_message() == (
        "1 resource changed outside Terraform: aws_sqs_queue.q0")
    assert analyze({}).summary_message() == "No resources changed outside Terraform"
    assert resource_count(1) == "1 resource" and resource_count(0) == "0 resources"


def test_no_drift_and_no_op_entries() -> None:
    doc = {"resource_drift": [_entry("aws_sqs_queue.q", ["no-op"], {"a": 1}, {"a": 1})],
           "resource_changes": [_entry("aws_sqs_queue.q", ["no-op"], {"a": 1}, {"a": 1})]}
    report = analyze(doc)
    assert not report.drifted
    assert report.fingerprint == analyze(json.loads("{}")).fingerprint


def test_event_message_has_paths_but_no_values() -> None:
    msg = analyze(_doc()).event_message()
    assert "aws_s3_bucket.b (update: tags.env" in msg and "aws_sqs_queue.q (delete)" in msg
    assert "prod" not in msg and "dev" not in msg


def test_real_aws_sqs_drift_entry_null_vs_empty_tags_is_not_a_change() -> None:
    # Trimmed from a real `terraform show -json` (aws provider 5.100, queue edited with boto3).
    before = {"name": "drift-probe", "tags": None, "tags_all": {}, "timeouts": None,
              "visibility_timeout_seconds": 30, "delay_seconds": 0}
    after = {**before, "tags": {}, "visibility_timeout_seconds": 99}
    doc = {"format_version": "1.2", "resource_drift": [{
        "address": "aws_sqs_queue.q", "mode": "managed", "type": "aws_sqs_queue", "name": "q",
        "change": {"actions": ["update"], "before": before, "after": after, "after_unknown": {},
                   "before_sensitive": {"tags_all": {}}, "after_sensitive": {"tags": {}, "tags_all": {}}}}],
        "resource_changes": [{"address": "aws_sqs_queue.q", "mode": "managed",
                              "change": {"actions": ["update"], "before": after, "after": before}}]}
    (queue,) = analyze(doc).resources
    assert [(c.path, c.before, c.after) for c in queue.changed_attributes] == [
        ("visibility_timeout_seconds", 30, 99)]


def test_false_entries_in_sensitivity_masks_are_not_sensitive() -> None:
    changes = diff_attributes({"grant": [{"permissions": ["READ"]}]}, {"grant": [{"permissions": ["WRITE"]}]},
                              before_sensitive={"grant": [{"permissions": [False]}]},
                              after_sensitive={"grant": [{"permissions": [False]}]})
    assert [(c.path, c.before, c.after, c.sensitive) for c in changes] == [
        ("grant[0].permissions[0]", "READ", "WRITE", False)]


def test_refresh_noise_the_plan_ignores_is_not_drift() -> None:
    """An attribute set by another resource (bucket versioning) shows in resource_drift, but the plan
    leaves the resource alone and nothing depends on it: Terraform itself does not report it."""
    noise = _entry("aws_s3_bucket.b", ["update"], {"versioning": [{"enabled": False}]}, {"versioning": [{"enabled": True}]})
    real = _entry("aws_s3_bucket.c", ["update"], {"tags": {"owner": "a"}}, {"tags": {"owner": "b"}})
    relevant = _entry("aws_iam_role.r", ["update"], {"inline_policy": []}, {"inline_policy": [{"name": "x"}]})
    doc = {
        "resource_drift": [noise, real, relevant],
        "resource_changes": [
            {"address": "aws_s3_bucket.b", "change": {"actions": ["no-op"]}},
            {"address": "aws_s3_bucket.c", "change": {"actions": ["update"]}},
            {"address": "aws_iam_role.r", "change": {"actions": ["no-op"]}},
        ],
        "relevant_attributes": [{"resource": "aws_iam_role.r", "attribute": ["inline_policy"]}],
    }
    report = analyze(doc)
    assert report.addresses == ["aws_iam_role.r", "aws_s3_bucket.c"]
    assert not analyze({**doc, "resource_drift": [noise]}).drifted


# An aws_s3_bucket as the aws provider 5.x refreshes it, trimmed: versioning and lifecycle are set by the
# sibling aws_s3_bucket_versioning / aws_s3_bucket_lifecycle_configuration resources (issue 13, point 8).
BUCKET_APPLIED = {"bucket": "demo-prod-artifacts", "force_destroy": False, "object_lock_enabled": None,
                  "tags": {"env": "prod"}, "tags_all": {"env": "prod"}, "lifecycle_rule": [],
                  "versioning": [{"enabled": False, "mfa_delete": False}],
                  "server_side_encryption_configuration": []}
BUCKET_REFRESHED = {**BUCKET_APPLIED, "object_lock_enabled": False,
                    "tags": {"env": "hacked"}, "tags_all": {"env": "hacked"},
                    "lifecycle_rule": [{"id": "expire-noncurrent-versions", "enabled": True}],
                    "versioning": [{"enabled": True, "mfa_delete": False}],
                    "server_side_encryption_configuration": [{"rule": [{"bucket_key_enabled": False}]}]}
# what the plan does about it: the tags go back; the computed attributes keep what the refresh read
BUCKET_PLANNED = {**BUCKET_REFRESHED, "tags": {"env": "prod"}, "tags_all": {"env": "prod"}}


def _bucket_doc(planned_after: dict[str, Any], actions: list[str], **rc_extra: Any) -> dict[str, Any]:
    return {"format_version": "1.2",
            "resource_drift": [_entry("aws_s3_bucket.this", ["update"], BUCKET_APPLIED, BUCKET_REFRESHED)],
            "resource_changes": [_entry("aws_s3_bucket.this", actions, BUCKET_REFRESHED, planned_after, **rc_extra)]}


def test_a_changed_tag_reports_the_tag_not_the_refresh_noise_beside_it() -> None:
    """The issue's mail: a tag changed outside listed `lifecycle_rule: [] -> [...]` and
    `versioning[0].enabled: false -> true` too. Only what the plan changes back is drift."""
    (bucket,) = analyze(_bucket_doc(BUCKET_PLANNED, ["update"])).resources
    assert bucket.attribute_paths == ["tags.env", "tags_all.env"]
    assert (bucket.action, bucket.remediation) == ("update", "update")


@pytest.mark.parametrize("noise", [
    {"lifecycle_rule": [{"id": "x", "enabled": True}]},  # optional-computed nested block: [] -> [...]
    {"versioning": [{"enabled": True, "mfa_delete": False}]},  # set by a sibling resource
    {"server_side_encryption_configuration": [{"rule": []}]},  # a default the service fills in
    {"object_lock_enabled": False},  # null -> a provider default
])
def test_refresh_noise_alone_is_no_drift_even_when_the_plan_updates_something_else(noise: dict[str, Any]) -> None:
    refreshed = {**BUCKET_APPLIED, **noise}
    planned = {**refreshed, "force_destroy": True}  # the plan's update is about an attribute nobody drifted
    doc = {"resource_drift": [_entry("aws_s3_bucket.this", ["update"], BUCKET_APPLIED, refreshed)],
           "resource_changes": [_entry("aws_s3_bucket.this", ["update"], refreshed, planned)]}
    assert not analyze(doc).drifted


def test_empty_list_null_and_absent_are_the_same() -> None:
    applied = {"bucket": "b", "grant": None, "cors_rule": []}
    refreshed = {"bucket": "b", "grant": [], "cors_rule": None, "website": []}
    doc = {"resource_drift": [_entry("aws_s3_bucket.this", ["update"], applied, refreshed)],
           "resource_changes": [_entry("aws_s3_bucket.this", ["no-op"], refreshed, refreshed)]}
    assert not analyze(doc).drifted
    assert diff_attributes(applied, refreshed) == []


def test_noise_something_depends_on_is_reported() -> None:
    """An output that reads `versioning` makes it relevant: Terraform reports it, so do we."""
    doc = _bucket_doc(BUCKET_PLANNED, ["update"])
    doc["relevant_attributes"] = [{"resource": "aws_s3_bucket.this", "attribute": ["versioning", 0, "enabled"]}]
    (bucket,) = analyze(doc).resources
    assert bucket.attribute_paths == ["tags.env", "tags_all.env", "versioning[0].enabled"]


def test_a_replacement_reports_what_it_puts_back() -> None:
    """A drifted attribute that forces replacement: the plan's after is unknown there, which counts."""
    replaced_after = {**BUCKET_APPLIED, "bucket": "demo-prod-artifacts"}
    doc = {"resource_drift": [_entry("aws_s3_bucket.this", ["update"], BUCKET_APPLIED,
                                     {**BUCKET_REFRESHED, "bucket": "renamed"})],
           "resource_changes": [_entry("aws_s3_bucket.this", ["delete", "create"],
                                       {**BUCKET_REFRESHED, "bucket": "renamed"}, replaced_after,
                                       after_unknown={"lifecycle_rule": True, "versioning": True})]}
    (bucket,) = analyze(doc).resources
    assert bucket.remediation == "delete-create"
    assert "bucket" in bucket.attribute_paths and "tags.env" in bucket.attribute_paths


def test_whole_lists_and_nested_paths_overlap() -> None:
    """A list whose length changed is one path (`rule`); the plan may change an element under it."""
    applied, refreshed = {"rule": [{"days": 1}]}, {"rule": [{"days": 1}, {"days": 2}]}
    planned = {"rule": [{"days": 1}]}
    doc = {"resource_drift": [_entry("aws_x.y", ["update"], applied, refreshed)],
           "resource_changes": [_entry("aws_x.y", ["update"], refreshed, planned)]}
    assert analyze(doc).resources[0].attribute_paths == ["rule"]
    nested = {"resource_drift": [_entry("aws_x.y", ["update"], {"rule": [{"days": 1}]}, {"rule": [{"days": 5}]})],
              "resource_changes": [_entry("aws_x.y", ["update"], {"rule": [{"days": 5}]}, {"rule": "(changed)"})]}
    assert analyze(nested).resources[0].attribute_paths == ["rule[0].days"]
