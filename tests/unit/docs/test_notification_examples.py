"""examples/notifications/ (the worked example docs/notifications.md points to) is usable as written:
every NotificationProvider and NotificationRule passes its CRD's schema with nothing pruned (a
misspelled field would be dropped silently by the API server) and the controller's own validation
(`from_dict`); every Secret a provider references is in the example with the keys its type reads; every
rule names providers of the example in its namespace; and the doc's commands name the files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.paths import REPO_ROOT
from tfcontroller.api.notification import (
    HTTP_PROVIDER_TYPES,
    KEY_ADDRESS,
    KEY_TOKEN,
    NotificationProvider,
    NotificationRule,
)
from tfcontroller.dev.cluster.schema import apply_schema_detailed

EXAMPLES = REPO_ROOT / "examples" / "notifications"
CRDS = REPO_ROOT / "crds"
KINDS = {"NotificationProvider": NotificationProvider, "NotificationRule": NotificationRule}


def _docs() -> list[dict[str, Any]]:
    return [d for p in sorted(EXAMPLES.glob("*.yaml")) for d in yaml.safe_load_all(p.read_text()) if d]


def _schema(kind: str) -> dict[str, Any]:
    for path in CRDS.glob("notification*.yaml"):
        for crd in yaml.safe_load_all(path.read_text()):
            if crd and crd["spec"]["names"]["kind"] == kind:
                schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
                return schema
    raise AssertionError(f"no CRD for {kind} in crds/")


DOCS = _docs()
OBJECTS = [d for d in DOCS if d["kind"] in KINDS]


def _of(kind: str) -> list[dict[str, Any]]:
    return [d for d in DOCS if d["kind"] == kind]


def test_the_example_has_secrets_providers_and_rules_of_every_kind_it_documents() -> None:
    assert {d["kind"] for d in DOCS} == {"Secret", *KINDS}
    types = {d["spec"]["type"] for d in _of("NotificationProvider")}
    assert {"slack", "webhook", "smtp"} <= types


@pytest.mark.parametrize("obj", OBJECTS, ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_each_object_passes_its_crd_schema_with_nothing_pruned(obj: dict[str, Any]) -> None:
    result = apply_schema_detailed(obj, _schema(obj["kind"]))
    assert result.pruned == [], f"unknown fields (the API server would drop them): {result.pruned}"


@pytest.mark.parametrize("obj", OBJECTS, ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_each_object_passes_the_controllers_validation(obj: dict[str, Any]) -> None:
    view = KINDS[obj["kind"]].from_dict({**obj, "metadata": {**obj["metadata"], "uid": "u", "generation": 1}})
    assert view.namespace == obj["metadata"]["namespace"]


def _needed_keys(provider: NotificationProvider) -> set[str]:
    """The keys a provider of this example needs in its Secret (docs/notifications.md's table)."""
    if provider.type in HTTP_PROVIDER_TYPES:
        return ({KEY_ADDRESS} if not provider.address else set()) | ({KEY_TOKEN} if provider.type == "webhook" else set())
    if provider.type == "smtp":
        return {"host", "port", "tls", "username", "password"} | ({"from"} if not provider.from_addr else set())
    return set()


def test_every_referenced_secret_is_there_with_the_keys_its_provider_reads() -> None:
    secrets = {(s["metadata"]["namespace"], s["metadata"]["name"]): s for s in _of("Secret")}
    for obj in _of("NotificationProvider"):
        provider = NotificationProvider.from_dict(obj)
        if not provider.secret_name:
            continue
        secret = secrets.get((provider.namespace, provider.secret_name))
        assert secret is not None, f"{provider.key} references Secret {provider.secret_name}, not in the example"
        keys = set(secret.get("stringData") or {}) | set(secret.get("data") or {})
        missing = _needed_keys(provider) - keys
        assert not missing, f"Secret {provider.secret_name} lacks {sorted(missing)} for {provider.key}"


def test_every_rule_names_providers_of_the_example_in_its_namespace() -> None:
    providers = {(p["metadata"]["namespace"], p["metadata"]["name"]) for p in _of("NotificationProvider")}
    for obj in _of("NotificationRule"):
        rule = NotificationRule.from_dict(obj)
        for name in rule.provider_names:
            assert (rule.namespace, name) in providers, f"{rule.key} names provider {name}, not in the example"


def test_the_docs_name_every_example_file() -> None:
    doc = (REPO_ROOT / "docs" / "notifications.md").read_text()
    readme = (EXAMPLES / "README.md").read_text()
    for path in sorted(EXAMPLES.glob("*.yaml")):
        assert f"examples/notifications/{path.name}" in doc, path.name
        assert path.name in readme, path.name
    assert Path(__file__).name in readme
