"""`get`'s pure rules (cli/get_format.py): kubectl's argument forms, the columns (default and wide), the
MESSAGE shortened to fit, `-o name` and the `-o yaml|json` document (no managedFields, kubectl's order)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import yaml

from tfcontroller.cli import get_format as fmt
from tfcontroller.cli.main import CLIError
from tfcontroller.kube.resources import GITREPOSITORIES, MANIFESTSETS, TERRAFORMS

NOW = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


def _targets(*words: str) -> list[tuple[str, list[str]]]:
    return [(t.resource.kind, t.names) for t in fmt.parse_targets(words)]


@pytest.mark.parametrize(("words", "want"), [
    (["tf"], [("Terraform", [])]),
    (["terraforms"], [("Terraform", [])]),
    (["Terraform.tfcontroller.io"], [("Terraform", [])]),
    (["gitrepos", "a", "b"], [("GitRepository", ["a", "b"])]),
    (["ms", "a", "a"], [("ManifestSet", ["a"])]),
    (["tf/a"], [("Terraform", ["a"])]),
    (["tf/a", "terraform/b", "gitrepo/c"], [("Terraform", ["a", "b"]), ("GitRepository", ["c"])]),
    (["tf,gitrepo"], [("Terraform", []), ("GitRepository", [])]),
    (["tf,gitrepo", "x"], [("Terraform", ["x"]), ("GitRepository", ["x"])]),
    (["all"], [("GitRepository", []), ("Terraform", []), ("ManifestSet", [])]),
    (["all,tf"], [("GitRepository", []), ("Terraform", []), ("ManifestSet", [])]),
])
def test_parse_targets_accepts_kubectls_forms(words: list[str], want: list[tuple[str, list[str]]]) -> None:
    assert _targets(*words) == want


@pytest.mark.parametrize("words", [[], ["pods"], ["tf/a", "b"], ["tf/"], ["all/x"], ["tf,pods"], [","]])
def test_parse_targets_refuses_with_a_usage_error(words: list[str]) -> None:
    with pytest.raises(CLIError) as err:
        fmt.parse_targets(words)
    assert err.value.exit_code == 2


def test_qualified_name_is_kind_dot_group() -> None:
    assert fmt.qualified_name(TERRAFORMS, "bucket") == "terraform.tfcontroller.io/bucket"
    assert fmt.qualified_name(GITREPOSITORIES, "infra") == "gitrepository.tfcontroller.io/infra"
    assert fmt.qualified_name(MANIFESTSETS, "app") == "manifestset.tfcontroller.io/app"


def _tf(**status: object) -> dict[str, object]:
    return {"apiVersion": "tfcontroller.io/v1alpha1", "kind": "Terraform",
            "metadata": {"name": "bucket", "namespace": "team", "creationTimestamp": "2026-01-02T03:00:00Z",
                         "managedFields": [{"manager": "kubectl"}]},
            "spec": {"sourceRef": {"kind": "GitRepository", "name": "infra"}, "path": "./stacks/bucket"},
            "status": status}


READY = {"type": "Ready", "status": "False", "reason": "PlanFailed",
         "message": "variable \"region\" is missing:\n  set it in spec.vars or spec.varsFrom"}


def test_columns_default_and_wide() -> None:
    assert fmt.headers(TERRAFORMS, wide=False, namespaces=False) == [
        "NAME", "READY", "REASON", "REVISION", "PLAN", "AGE", "MESSAGE"]
    assert fmt.headers(GITREPOSITORIES, wide=True, namespaces=True) == [
        "NAMESPACE", "NAME", "READY", "REASON", "REVISION", "AGE", "SUSPENDED", "URL", "REF", "MESSAGE"]
    assert fmt.headers(MANIFESTSETS, wide=True, namespaces=False)[-4:] == ["SUSPENDED", "SOURCE", "PATH", "MESSAGE"]
    obj = _tf(conditions=[READY], plan={"pending": "plan-x"})
    row = fmt.row(obj, TERRAFORMS, wide=True, namespaces=True, now=NOW)
    assert row == ["team", "bucket", "False", "PlanFailed", "", "plan-x", "4m", "False", "gitrepository/infra",
                   "./stacks/bucket", 'variable "region" is missing: set it in spec.vars or spec.varsFrom']
    assert len(row) == len(fmt.headers(TERRAFORMS, wide=True, namespaces=True))


def test_row_without_status_and_suspended() -> None:
    obj = _tf()
    obj["spec"] = {"suspend": True}
    assert fmt.row(obj, TERRAFORMS, wide=False, namespaces=False, qualified=True, now=NOW) == [
        "terraform.tfcontroller.io/bucket", "Unknown", "Suspended", "", "", "4m", ""]


@pytest.mark.parametrize(("text", "width", "want"), [
    ("short", 10, "short"),
    ("exactly ten", 11, "exactly ten"),
    ("variable region is missing, set it", 20, "variable region is…"),
    ("abcdefghijklmnopqrstuvwxyz", 10, "abcdefghi…"),
])
def test_shorten(text: str, width: int, want: str) -> None:
    assert fmt.shorten(text, width) == want
    assert len(fmt.shorten(text, width)) <= width


def test_fit_messages_fits_the_width_but_keeps_a_readable_minimum() -> None:
    head = ["NAME", "MESSAGE"]
    rows = [["a", "word " * 40]]
    fitted = fmt.fit_messages(head, rows, 60)
    assert max(len(line) for line in fmt.format_table(head, fitted)) <= 60
    narrow = fmt.fit_messages(head, [["x" * 100, "word " * 40]], 60)[0][1]
    assert fmt.MIN_MESSAGE * 2 // 3 <= len(narrow) <= fmt.MIN_MESSAGE
    assert fmt.fit_messages(head, rows, None) == rows  # -o wide / not a terminal: whole


def test_format_table_keeps_earlier_widths_for_watch_lines() -> None:
    lines = fmt.format_table(["NAME", "READY", "MESSAGE"], [["bucket", "True", "ok"]])
    later = fmt.format_table([], [["q", "False", "failed"]], [6, 5, 2])
    assert lines[1].index("True") == later[0].index("False")


def test_documents_drop_managed_fields_and_order_keys_as_kubectl() -> None:
    obj = {"status": {"b": 1, "a": 2}, "spec": {"z": 1}, "metadata": {"name": "x", "managedFields": [1]},
           "kind": "Terraform", "apiVersion": "tfcontroller.io/v1alpha1"}
    text = fmt.render(fmt.document([obj], single=True), "yaml")
    assert [line.split(":")[0] for line in text.splitlines() if not line.startswith(" ")] == [
        "apiVersion", "kind", "metadata", "spec", "status"]
    assert "managedFields" not in text and "managedFields" in obj["metadata"]  # the caller's dict is kept
    many = json.loads(fmt.render(fmt.document([obj, obj], single=False), "json"))
    assert list(many) == ["apiVersion", "items", "kind", "metadata"] and many["kind"] == "List"
    assert list(many["items"][0]) == ["apiVersion", "kind", "metadata", "spec", "status"]
    assert yaml.safe_load(fmt.render(fmt.document([obj], single=False), "yaml"))["kind"] == "List"
