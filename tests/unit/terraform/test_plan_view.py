"""The readable plan (terraform/plan_view.py) on plain `show -json` documents: every action (create, update,
delete, replace, read, forget), nested attributes and lists, sensitive values in before and after (a
leaf, a whole object, one element of a list), unknown values, outputs (sensitive, unknown, changed,
removed), changes outside Terraform, variables (names only), values that came from Secrets, the size
bound with `omitted`, and the one rendering (diff_lines / render_text / plan.human_readable). The rule
checked everywhere: no secret text appears anywhere in the serialised document or its rendering."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.sample_plan import SECRETS as DRIFT_SECRETS
from tests.support.sample_plan import drift_plan
from tfcontroller.terraform.plan import human_readable
from tfcontroller.terraform.plan_view import DiffLine, build_plan_view, diff_lines, render_text

SECRET = "hunter2-very-secret"
OLD_SECRET = "old-hunter2-secret"
LIST_SECRET = "list-element-secret"
OBJ_SECRET = "whole-object-secret"
VAR_SECRET = "value-of-a-variable"
ALL_SECRETS = (SECRET, OLD_SECRET, LIST_SECRET, OBJ_SECRET, VAR_SECRET)


def rc(address: str, actions: list[str], before: Any = None, after: Any = None, *, mode: str = "managed",
       **change: Any) -> dict[str, Any]:
    type_ = address.split(".")[-2] if mode == "managed" else address.split(".")[1]
    return {"address": address, "mode": mode, "type": type_, "name": address.split(".")[-1],
            "change": {"actions": actions, "before": before, "after": after, "after_unknown": {},
                       "before_sensitive": {}, "after_sensitive": {}, **change}}


def show(*changes: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"format_version": "1.2", "terraform_version": "1.11.4", "resource_changes": list(changes),
            "variables": {"region": {"value": "eu-west-1"}, "password": {"value": VAR_SECRET}}, **extra}


def view_of(doc: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    args: dict[str, Any] = {"plan_id": "plan-main-0123456789-abcdef01", "revision": "main@sha1:" + "0" * 40,
                            "created_at": "2026-01-01T00:00:00Z", "is_drift": False, "is_destroy": False}
    return build_plan_view(doc, **{**args, **kwargs})


def assert_no_secret(view: dict[str, Any], secrets: tuple[str, ...] = ALL_SECRETS) -> None:
    text = json.dumps(view) + render_text(diff_lines(view))
    for secret in secrets:
        assert secret not in text, secret


def attrs(entry: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {a["path"]: (a["before"], a["after"]) for a in entry["attributes"]}


CREATE = rc("aws_db_instance.main", ["create"], None,
            {"name": "db", "password": SECRET, "tags": {"env": "prod", "team": "a"}, "ports": [5432, 5433],
             "users": ["admin", LIST_SECRET], "auth": {"token": OBJ_SECRET, "kind": "basic"}, "nothing": None},
            after_sensitive={"password": True, "users": [False, True], "auth": True},
            after_unknown={"id": True, "endpoint": True, "tags": {}})


def test_create_lists_every_known_leaf_and_the_unknown_ones_masking_sensitive_parts() -> None:
    view = view_of(show(CREATE))
    (entry,) = view["changes"]
    assert (entry["address"], entry["type"], entry["action"], entry["actions"]) == \
        ("aws_db_instance.main", "aws_db_instance", "create", ["create"])
    got = attrs(entry)
    assert got == {
        "name": (None, "db"), "password": (None, "(sensitive)"), "tags.env": (None, "prod"),
        "tags.team": (None, "a"), "ports[0]": (None, 5432), "ports[1]": (None, 5433),
        "users[0]": (None, "admin"), "users[1]": (None, "(sensitive)"),
        "auth": (None, "(sensitive)"),  # a whole sensitive object: not even its keys
        "id": (None, "(known after apply)"), "endpoint": (None, "(known after apply)"),
    }
    by_path = {a["path"]: a for a in entry["attributes"]}
    assert by_path["password"]["sensitive"] and by_path["auth"]["sensitive"] and not by_path["name"]["sensitive"]
    assert by_path["id"]["unknown"] and not by_path["name"]["unknown"]
    assert view["counts"] == {"add": 1, "change": 0, "destroy": 0, "replace": 0}
    assert "token" not in json.dumps(view)  # the structure of a sensitive object does not leave either
    assert_no_secret(view)


def test_update_lists_only_changed_paths_and_reports_a_changed_secret_masked() -> None:
    before = {"name": "db", "password": OLD_SECRET, "tags": {"env": "dev", "keep": "x"}, "size": 1,
              "rules": [{"port": 80}, {"port": 443}]}
    after = {"name": "db", "password": SECRET, "tags": {"env": "prod", "keep": "x"}, "size": 1,
             "rules": [{"port": 80}, {"port": 8443}]}
    sens = {"password": True}
    view = view_of(show(rc("aws_db_instance.main", ["update"], before, after, before_sensitive=sens,
                           after_sensitive=sens)))
    (entry,) = view["changes"]
    assert entry["action"] == "update"
    assert attrs(entry) == {"password": ("(sensitive)", "(sensitive)"), "tags.env": ("dev", "prod"),
                            "rules[1].port": (443, 8443)}
    assert view["counts"]["change"] == 1
    lines = render_text(diff_lines(view))
    assert '~ aws_db_instance.main (update)' in lines and 'tags.env: "dev" -> "prod"' in lines
    assert "password: (sensitive) -> (sensitive)" in lines and "keep" not in lines
    assert_no_secret(view)


def test_update_with_an_unchanged_secret_does_not_list_it_and_a_newly_sensitive_value_is_masked() -> None:
    view = view_of(show(rc("a_b.c", ["update"], {"k": SECRET, "n": 1, "m": "plain"},
                           {"k": SECRET, "n": 2, "m": OLD_SECRET},
                           before_sensitive={"k": True}, after_sensitive={"k": True, "m": True})))
    assert attrs(view["changes"][0]) == {"n": (1, 2), "m": ("(sensitive)", "(sensitive)")}
    assert_no_secret(view)


def test_delete_has_no_attributes_and_replace_marks_what_forces_it() -> None:
    view = view_of(show(
        rc("a_b.gone", ["delete"], {"password": SECRET}, None, before_sensitive={"password": True}),
        rc("a_b.swap", ["create", "delete"], {"name": "a", "size": 1}, {"name": "b", "size": 2},
           replace_paths=[["name"]]),
        rc("a_b.other", ["delete", "create"], {"x": 1}, {"x": 2}),
    ))
    by_address = {e["address"]: e for e in view["changes"]}
    assert by_address["a_b.gone"]["action"] == "delete" and by_address["a_b.gone"]["attributes"] == []
    swap = by_address["a_b.swap"]
    assert swap["action"] == "replace" and by_address["a_b.other"]["action"] == "replace"
    assert {a["path"]: a.get("forcesReplacement", False) for a in swap["attributes"]} == {"name": True, "size": False}
    assert view["counts"] == {"add": 2, "change": 0, "destroy": 3, "replace": 2}
    text = render_text(diff_lines(view))
    assert "- a_b.gone (delete)" in text and "-/+ a_b.swap (replace)" in text
    assert 'name: "a" -> "b"  # forces replacement' in text
    assert_no_secret(view)


def test_a_data_source_read_during_apply_is_shown_not_counted_and_forget_is_its_own_action() -> None:
    read_entry = rc("data.aws_caller_identity.me", ["read"], None, {"account_id": None}, mode="data",
                    after_unknown={"account_id": True})
    read_entry["action_reason"] = "read_because_config_unknown"  # beside `change`, as Terraform writes it
    view = view_of(show(
        read_entry,
        rc("a_b.kept", ["forget"], {"x": 1}, None),
        rc("a_b.same", ["no-op"], {"x": 1}, {"x": 1}),
    ))
    assert [(e["address"], e["action"]) for e in view["changes"]] == [
        ("a_b.kept", "forget"), ("data.aws_caller_identity.me", "read")]
    read = view["changes"][1]
    assert read["actionReason"] == "read_because_config_unknown"
    assert attrs(read) == {"account_id": (None, "(known after apply)")}
    assert view["counts"] == {"add": 0, "change": 0, "destroy": 0, "replace": 0, "forget": 1}
    lines = diff_lines(view)
    assert lines[0] == DiffLine("summary", "Plan: 0 to add, 0 to change, 0 to destroy, 1 to forget.", 0)
    assert DiffLine("read", "<= data.aws_caller_identity.me (read)", 1) in lines


def test_outputs_sensitive_unknown_changed_and_removed() -> None:
    view = view_of(show(output_changes={
        "arn": {"actions": ["create"], "before": None, "after": None, "after_unknown": True,
                "before_sensitive": False, "after_sensitive": False},
        "password": {"actions": ["create"], "before": None, "after": SECRET, "after_unknown": False,
                     "before_sensitive": True, "after_sensitive": True},
        "conn": {"actions": ["update"], "before": {"user": "a", "pw": OLD_SECRET}, "after": {"user": "b", "pw": SECRET},
                 "after_unknown": False, "before_sensitive": {"pw": True}, "after_sensitive": {"pw": True}},
        "old": {"actions": ["delete"], "before": "x", "after": None, "after_unknown": False},
        "same": {"actions": ["no-op"], "before": "y", "after": "y"},
    }))
    assert view["outputs"] == [
        {"name": "arn", "action": "create", "sensitive": False, "before": None, "after": "(known after apply)"},
        {"name": "conn", "action": "update", "sensitive": False, "before": {"pw": "(sensitive)", "user": "a"},
         "after": {"pw": "(sensitive)", "user": "b"}},
        {"name": "old", "action": "delete", "sensitive": False, "before": "x", "after": None},
        {"name": "password", "action": "create", "sensitive": True, "before": None, "after": "(sensitive)"},
    ]
    lines = [line for line in diff_lines(view) if line.kind == "output"]
    assert [line.text for line in lines] == [
        "+ arn = (known after apply)", '~ conn: {"pw": "(sensitive)", "user": "a"} -> {"pw": "(sensitive)", "user": "b"}',
        "- old", "+ password = (sensitive)"]
    assert_no_secret(view)


def test_changes_outside_terraform_as_the_drift_report_counts_them() -> None:
    view = view_of(drift_plan(), is_drift=True)
    assert view["isDrift"] is True
    drift = {e["address"]: e for e in view["drift"]}
    assert set(drift) == {"aws_s3_bucket.demo", "aws_db_instance.main", "aws_sqs_queue.jobs"}
    assert drift["aws_sqs_queue.jobs"]["action"] == "delete"
    assert attrs(drift["aws_s3_bucket.demo"]) == {"tags.env": ("prod", "dev"), "tags.owner": ("<team-a>", "<team-b>")}
    assert attrs(drift["aws_db_instance.main"])["password"] == ("(sensitive)", "(sensitive)")
    lines = diff_lines(view)
    headings = [line.text for line in lines if line.kind == "heading"]
    assert headings == ["Changes outside Terraform:", "Changes:"]
    assert_no_secret(view, DRIFT_SECRETS)


def test_variables_are_names_only_and_values_from_secrets_are_masked_wherever_they_appear() -> None:
    """A module may pass a Secret's value through a variable it does not declare sensitive: Terraform then
    shows it in plain. The controller hands the texts it read from Secrets (and the values of variables
    the module declares sensitive) as `secrets`: any value or address containing one is masked."""
    doc = show(
        rc('a_b.c["' + VAR_SECRET + '"]', ["create"], None,
           {"conn": f"postgres://app:{VAR_SECRET}@db:5432", "port": 40404, "region": "eu-west-1"}),
        output_changes={"url": {"actions": ["create"], "after": f"https://{VAR_SECRET}.example", "after_unknown": False,
                                "after_sensitive": False},
                        "by_key": {"actions": ["create"], "after": {VAR_SECRET: 1, "plain": 2}, "after_unknown": False,
                                   "after_sensitive": False}},
    )
    plain = view_of(doc)
    assert plain["variables"] == ["password", "region"]
    assert "eu-west-1" not in json.dumps(plain["variables"])
    masked = view_of(doc, secrets=[VAR_SECRET, "40404", "ab"])  # "ab": too short to mask (api/redact.py)
    (entry,) = masked["changes"]
    assert entry["address"] == 'a_b.c["***"]'
    assert attrs(entry) == {"conn": (None, "(sensitive)"), "port": (None, "(sensitive)"), "region": (None, "eu-west-1")}
    assert {a["path"]: a["sensitive"] for a in entry["attributes"]} == {"conn": True, "port": True, "region": False}
    outputs = {o["name"]: o for o in masked["outputs"]}
    assert outputs["url"]["after"] == "(sensitive)" and outputs["url"]["sensitive"]
    assert outputs["by_key"]["after"] == {"***": 1, "plain": 2} and outputs["by_key"]["sensitive"]
    assert_no_secret(masked)


def test_the_whole_document_never_holds_a_secret() -> None:
    doc = show(CREATE, rc("a_b.u", ["update"], {"k": OLD_SECRET}, {"k": SECRET}, before_sensitive={"k": True},
                          after_sensitive={"k": True}),
               output_changes={"pw": {"actions": ["create"], "after": SECRET, "after_sensitive": True}},
               prior_state={"values": {"root_module": {"resources": [{"values": {"k": OLD_SECRET}}]}}},
               planned_values={"root_module": {"resources": [{"values": {"k": SECRET}}]}},
               configuration={"root_module": {"variables": {"password": {"default": VAR_SECRET}}}})
    view = view_of(doc, secrets=[VAR_SECRET])
    assert set(view) == {"planId", "revision", "createdAt", "isDrift", "isDestroy", "terraformVersion", "counts",
                         "changes", "drift", "outputs", "variables", "omitted"}
    assert_no_secret(view)


def test_above_the_size_bound_entries_are_omitted_deletions_first_kept_and_counts_complete() -> None:
    big = "x" * 2000
    changes = [rc(f"a_b.new{i:03d}", ["create"], None, {"blob": big}) for i in range(100)]
    changes += [rc("a_b.zz_gone", ["delete"], {"blob": big}, None), rc("a_b.zz_swap", ["delete", "create"],
                                                                        {"blob": big}, {"blob": big + "y"})]
    doc = show(*changes, output_changes={"o": {"actions": ["create"], "after": "v"}})
    full = view_of(doc)
    assert full["omitted"] == 0 and len(full["changes"]) == 102
    view = view_of(doc, max_bytes=30_000)
    assert len(json.dumps(view, separators=(",", ":"))) <= 30_000
    assert 0 < len(view["changes"]) < 102 and view["omitted"] == 102 - len(view["changes"])
    kept = [e["address"] for e in view["changes"]]
    assert "a_b.zz_gone" in kept and "a_b.zz_swap" in kept and kept == sorted(kept)
    assert view["counts"] == full["counts"] == {"add": 101, "change": 0, "destroy": 2, "replace": 1}
    assert view["outputs"] == full["outputs"]
    note = [line for line in diff_lines(view) if line.kind == "heading" and "more resource changes" in line.text]
    assert note and f"{view['omitted']} more" in note[0].text


@pytest.mark.parametrize("kind", ["create", "update", "delete", "replace", "read"])
def test_every_resource_line_has_its_kind_and_attributes_are_nested(kind: str) -> None:
    actions = {"replace": ["delete", "create"]}.get(kind, [kind])
    mode = "data" if kind == "read" else "managed"
    address = "data.a_b.c" if kind == "read" else "a_b.c"
    before = None if kind in ("create", "read") else {"x": 1}
    after = None if kind == "delete" else {"x": 2}
    lines = diff_lines(view_of(show(rc(address, actions, before, after, mode=mode))))
    assert lines[0].kind == "summary" and lines[0].indent == 0
    assert lines[1].kind == kind and lines[1].indent == 1 and lines[1].text.endswith(f"{address} ({kind})")
    assert all(line.kind == "attribute" and line.indent > 1 for line in lines[2:])


def test_human_readable_is_the_same_rendering() -> None:
    doc = show(CREATE, output_changes={"o": {"actions": ["create"], "after": "v"}})
    assert human_readable(doc) == render_text(diff_lines(view_of(doc)))
    assert human_readable(doc).splitlines()[0] == "Plan: 1 to add, 0 to change, 0 to destroy."
