"""crds/*.yaml: the seven CRDs are well-formed structural schemas, accept the documented examples in
docs/api-examples/, reject the invalid ones naming the field, apply defaults and prune unknown fields
(validated through tfcontroller.dev.cluster.schema, the same code the dev cluster serves them with)."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.paths import REPO_ROOT
from tfcontroller.api import constants
from tfcontroller.api.duration import CRD_PATTERN
from tfcontroller.dev.cluster.schema import SchemaValidationError, apply_schema, apply_schema_detailed

ROOT = REPO_ROOT
CRD_DIR = ROOT / "crds"
EXAMPLES = ROOT / "docs" / "api-examples"


def load_crds() -> dict[str, dict[str, Any]]:
    crds = {}
    for path in sorted(CRD_DIR.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                crds[doc["spec"]["names"]["kind"]] = doc
    return crds


CRDS = load_crds()


def schema(kind: str) -> dict[str, Any]:
    return CRDS[kind]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


VALID = [(p.name, d) for p in sorted(EXAMPLES.glob("*.yaml")) for d in docs(p)]
INVALID = sorted((EXAMPLES / "invalid").glob("*.yaml"))


def test_seven_crds_with_names_scope_and_version() -> None:
    assert set(CRDS) == {"GitRepository", "Terraform", "ManifestSet", "PlanPolicy", "PolicyException",
                         "NotificationProvider", "NotificationRule"}
    shorts = {"GitRepository": "gitrepo", "Terraform": "tf", "ManifestSet": "ms", "PlanPolicy": "pp",
              "PolicyException": "pex", "NotificationProvider": "tfnp", "NotificationRule": "tfnr"}
    for kind, crd in CRDS.items():
        spec = crd["spec"]
        plural = constants.PLURALS[kind]
        assert crd["metadata"]["name"] == f"{plural}.{constants.GROUP}"
        assert spec["group"] == constants.GROUP and spec["scope"] == "Namespaced"
        assert spec["names"]["plural"] == plural and spec["names"]["shortNames"] == [shorts[kind]]
        assert spec["names"]["categories"] == ["tfcontroller"]
        (version,) = spec["versions"]
        assert (version["name"], version["served"], version["storage"]) == (constants.VERSION, True, True)
        assert version["subresources"] == {"status": {}}


def test_printer_columns() -> None:
    for kind, crd in CRDS.items():
        cols = {c["name"]: c for c in crd["spec"]["versions"][0]["additionalPrinterColumns"]}
        assert cols["Ready"]["jsonPath"] == '.status.conditions[?(@.type=="Ready")].status'
        assert cols["Status"]["jsonPath"] == '.status.conditions[?(@.type=="Ready")].message'
        assert cols["Age"] == {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
        # an exception and the notification kinds have no source
        assert ("Revision" in cols) == (kind not in ("PolicyException", "NotificationProvider", "NotificationRule"))
        assert ("Plan" in cols) == (kind in ("Terraform", "PolicyException"))
    tf_cols = {c["name"]: c["jsonPath"] for c in CRDS["Terraform"]["spec"]["versions"][0]["additionalPrinterColumns"]}
    assert tf_cols["Plan"] == ".status.plan.pending"
    pex_cols = {c["name"]: c["jsonPath"]
                for c in CRDS["PolicyException"]["spec"]["versions"][0]["additionalPrinterColumns"]}
    assert (pex_cols["Plan"], pex_cols["Terraform"]) == (".spec.planId", ".spec.terraformRef.name")
    np_cols = {c["name"]: c["jsonPath"]
               for c in CRDS["NotificationProvider"]["spec"]["versions"][0]["additionalPrinterColumns"]}
    assert np_cols["Type"] == ".spec.type"
    nr_cols = {c["name"]: c["jsonPath"]
               for c in CRDS["NotificationRule"]["spec"]["versions"][0]["additionalPrinterColumns"]}
    assert (nr_cols["Sent"], nr_cols["Failed"]) == (".status.sent", ".status.failed")


def _structural_problems(node: Any, path: str, in_junctor: bool = False) -> list[str]:
    """The structural-schema rules a real kube-apiserver enforces on CRDs (the subset that matters here)."""
    problems: list[str] = []
    if not isinstance(node, dict):
        return [f"{path}: not an object"]
    special = node.get("x-kubernetes-preserve-unknown-fields") or node.get("x-kubernetes-int-or-string")
    if in_junctor:
        for banned in ("type", "default", "description", "nullable", "additionalProperties"):
            if banned in node:
                problems.append(f"{path}: {banned} not allowed inside oneOf/anyOf/allOf/not")
    elif "type" not in node and not special:
        problems.append(f"{path}: type missing")
    if node.get("type") == "object" and "properties" in node and isinstance(node.get("additionalProperties"), dict):
        problems.append(f"{path}: properties and additionalProperties are exclusive")
    if node.get("x-kubernetes-list-type") == "map":
        required = set(node["items"].get("required", []))
        for key in node.get("x-kubernetes-list-map-keys", []):
            if key not in required and "default" not in node["items"]["properties"][key]:
                problems.append(f"{path}: list map key {key} must be required or defaulted")
    for key, sub in (node.get("properties") or {}).items():
        problems += _structural_problems(sub, f"{path}.{key}", in_junctor)
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            problems += _structural_problems(node[key], f"{path}.{key}", in_junctor)
    for key in ("oneOf", "anyOf", "allOf"):
        for i, sub in enumerate(node.get(key) or []):
            problems += _structural_problems(sub, f"{path}.{key}[{i}]", True)
    return problems


@pytest.mark.parametrize("kind", sorted(CRDS))
def test_schema_is_structural(kind: str) -> None:
    assert _structural_problems(schema(kind), "openAPIV3Schema") == []


@pytest.mark.parametrize("kind", sorted(CRDS))
def test_defaults_validate_against_their_own_schema(kind: str) -> None:
    """A real server refuses a CRD whose defaults would not validate."""

    def walk(node: dict[str, Any], path: str) -> None:
        if "default" in node:
            wrapper = {"type": "object", "properties": {"v": node}}
            apply_schema({"v": node["default"]}, wrapper)
        for key, sub in (node.get("properties") or {}).items():
            walk(sub, f"{path}.{key}")
        if isinstance(node.get("items"), dict):
            walk(node["items"], f"{path}[]")

    walk(schema(kind), "")


def test_duration_fields_use_the_shared_pattern() -> None:
    found = []

    def walk(node: dict[str, Any], path: str) -> None:
        for key, sub in (node.get("properties") or {}).items():
            if key in ("interval", "retryInterval", "timeout"):
                assert sub["pattern"] == CRD_PATTERN, f"{path}.{key}"
                found.append(f"{path}.{key}")
            walk(sub, f"{path}.{key}")

    for kind in CRDS:
        walk(schema(kind), kind)
    assert "Terraform.spec.driftDetection.interval" in found and len(found) >= 9


@pytest.mark.parametrize(("file", "obj"), VALID, ids=[f"{f}:{d['metadata']['name']}" for f, d in VALID])
def test_examples_accepted_unchanged_apart_from_defaults(file: str, obj: dict[str, Any]) -> None:
    result = apply_schema_detailed(obj, schema(obj["kind"]))
    assert result.pruned == []
    assert contains(result.obj, obj)


def contains(big: Any, small: Any) -> bool:
    """`big` holds everything in `small` (defaults may have added more)."""
    if isinstance(small, dict):
        return isinstance(big, dict) and all(k in big and contains(big[k], v) for k, v in small.items())
    return big == small


def test_every_kind_has_a_valid_example() -> None:
    assert {d["kind"] for _, d in VALID} == set(CRDS)


@pytest.mark.parametrize("path", INVALID, ids=[p.name for p in INVALID])
def test_invalid_examples_rejected_naming_the_field(path: Path) -> None:
    match = re.search(r"^# expect-invalid: (\S+)$", path.read_text(), re.M)
    assert match, f"{path.name} must say which field is invalid"
    (obj,) = docs(path)
    with pytest.raises(SchemaValidationError) as info:
        apply_schema(obj, schema(obj["kind"]))
    assert [field for field, _ in info.value.causes] == [match.group(1)]
    assert f"{match.group(1)}: " in str(info.value)
    assert str(info.value).startswith(f'{obj["kind"]}.tfcontroller.io "{obj["metadata"]["name"]}" is invalid: ')


def minimal_terraform(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": constants.API_VERSION, "kind": "Terraform", "metadata": {"name": "t", "namespace": "d"},
            "spec": {"sourceRef": {"name": "repo"}, "interval": "5m", **spec}}


def test_banana_interval_message() -> None:
    with pytest.raises(SchemaValidationError) as info:
        apply_schema(minimal_terraform(interval="banana"), schema("Terraform"))
    assert str(info.value) == ('Terraform.tfcontroller.io "t" is invalid: spec.interval: Invalid value: "banana": '
                               f"spec.interval in body should match '{CRD_PATTERN}'")


def test_terraform_defaults_applied() -> None:
    out = apply_schema(minimal_terraform(), schema("Terraform"))["spec"]
    assert out["workspace"] == "default"
    assert out["path"] == "./"
    assert out["timeout"] == "20m"
    assert out["sourceRef"]["kind"] == "GitRepository"
    assert "approvePlan" not in out  # absent means manual: every plan waits for approval


def test_other_defaults_applied() -> None:
    ms = apply_schema({"apiVersion": constants.API_VERSION, "kind": "ManifestSet", "metadata": {"name": "m"},
                       "spec": {"sourceRef": {"name": "r"}, "interval": "1m"}}, schema("ManifestSet"))["spec"]
    assert (ms["path"], ms["timeout"], ms["sourceRef"]["kind"]) == ("./", "5m", "GitRepository")
    gr = apply_schema({"apiVersion": constants.API_VERSION, "kind": "GitRepository", "metadata": {"name": "g"},
                       "spec": {"url": "file:///srv/repo", "interval": "1m"}}, schema("GitRepository"))["spec"]
    assert gr["timeout"] == "60s"


def test_unknown_fields_pruned_but_var_values_and_status_extras_kept() -> None:
    obj = minimal_terraform(unknownField=1, vars=[{"name": "x", "value": {"any": ["json", 1, None]}, "typo": 2}])
    obj["status"] = {"conditions": [], "futureField": {"a": 1}, "plan": {"pending": "", "bogus": 1}}
    result = apply_schema_detailed(obj, schema("Terraform"))
    assert sorted(result.pruned) == ["spec.unknownField", "spec.vars[0].typo", "status.plan.bogus"]
    assert result.obj["spec"]["vars"] == [{"name": "x", "value": {"any": ["json", 1, None]}}]
    assert result.obj["status"]["futureField"] == {"a": 1}


def test_null_var_value_is_allowed() -> None:
    assert apply_schema(minimal_terraform(vars=[{"name": "x", "value": None}]), schema("Terraform"))


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"workspace": "Prod_1"}, "spec.workspace"),
        ({"vars": [{"name": "x"}]}, "spec.vars[0]"),
        ({"vars": [{"name": "1x", "value": 1}]}, "spec.vars[0].name"),
        ({"vars": [{"name": "x", "value": 1}, {"name": "x", "value": 2}]}, "spec.vars[1]"),
        ({"env": [{"name": "A", "value": "1", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]}, "spec.env[0]"),
        ({"env": [{"name": "A", "valueFrom": {}}]}, "spec.env[0].valueFrom"),
        ({"env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s"}}}]}, "spec.env[0].valueFrom.secretKeyRef.key"),
        ({"envFrom": [{"kind": "Secret"}]}, "spec.envFrom[0].name"),
        ({"writeOutputsToSecret": {}}, "spec.writeOutputsToSecret.name"),
        ({"dependsOn": [{"namespace": "x"}]}, "spec.dependsOn[0].name"),
        ({"driftDetection": {"interval": "often"}}, "spec.driftDetection.interval"),
        ({"driftDetection": {"email": {"to": []}}}, "spec.driftDetection.email.to"),
        ({"driftDetection": {"email": {"to": ["nobody"]}}}, "spec.driftDetection.email.to[0]"),
        ({"destroy": "yes"}, "spec.destroy"),
        ({"sourceRef": {"name": "Bad_Name"}}, "spec.sourceRef.name"),
        ({"backendConfig": {"secretSuffix": ""}}, "spec.backendConfig.secretSuffix"),
    ],
)
def test_terraform_rejections_name_the_field(spec: dict[str, Any], field: str) -> None:
    with pytest.raises(SchemaValidationError) as info:
        apply_schema(minimal_terraform(**spec), schema("Terraform"))
    assert {f for f, _ in info.value.causes} == {field}


def test_terraform_name_limited_to_a_label_value() -> None:
    obj = minimal_terraform()
    obj["metadata"]["name"] = "a" * 64
    with pytest.raises(SchemaValidationError) as info:
        apply_schema(obj, schema("Terraform"))
    assert info.value.causes[0][0] == "metadata.name"


def test_approve_plan_accepts_auto_manual_and_plan_ids() -> None:
    pid = constants.plan_id("main", "0" * 40, "sha256:" + "a" * 64)
    for value in ("auto", "", pid):
        assert apply_schema(minimal_terraform(approvePlan=value), schema("Terraform"))


@pytest.mark.parametrize(
    "url",
    ["https://h/r.git", "http://h:8080/r", "ssh://git@h:22/r.git", "git@github.com:org/repo.git", "file:///tmp/r"],
)
def test_git_url_forms_accepted(url: str) -> None:
    obj = {"apiVersion": constants.API_VERSION, "kind": "GitRepository", "metadata": {"name": "g"},
           "spec": {"url": url, "interval": "1m"}}
    assert apply_schema(obj, schema("GitRepository"))["spec"]["url"] == url


def test_conditions_are_validated_in_status() -> None:
    obj = copy.deepcopy(minimal_terraform())
    obj["status"] = {"conditions": [{"type": "Ready", "status": "Maybe", "reason": "X", "message": "",
                                     "lastTransitionTime": "2024-01-01T00:00:00Z"}]}
    with pytest.raises(SchemaValidationError) as info:
        apply_schema(obj, schema("Terraform"))
    assert info.value.causes[0][0] == "status.conditions[0].status"
