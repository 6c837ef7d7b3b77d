"""The rule of `tfcontroller state import` (terraform/state_transfer.py) on plain dicts: which files are a
Terraform state, when an existing state may be replaced (absent or empty: always; holding resources or
outputs: only with `--force <its serial>`), and that the written serial is always above the replaced one
so that a plan saved against the previous state is stale (design.md §4.2)."""

from __future__ import annotations

import json

import pytest

from tfcontroller.terraform.state_transfer import (
    ImportRefused,
    StateFileError,
    encode_state,
    is_empty,
    parse_state_file,
    plan_import,
)


def state(serial: int = 3, lineage: str = "aaaa-1", resources: int = 1, outputs: int = 0) -> dict:
    return {"version": 4, "terraform_version": "1.11.4", "serial": serial, "lineage": lineage,
            "outputs": {f"o{i}": {"value": i, "type": "number"} for i in range(outputs)},
            "resources": [{"mode": "managed", "type": "terraform_data", "name": f"r{i}", "instances": []}
                          for i in range(resources)]}


def test_a_state_file_parses() -> None:
    doc = state()
    assert parse_state_file(json.dumps(doc).encode()) == doc


@pytest.mark.parametrize(("raw", "fragment"), [
    (b"", "empty"),
    (b"   \n", "empty"),
    (b"not json", "not JSON"),
    (b"[1, 2]", "not a JSON object"),
    (b"\xff\xfe", "not JSON"),
    (json.dumps({**state(), "version": 3}).encode(), "version 3 is not supported"),
    (json.dumps({k: v for k, v in state().items() if k != "version"}).encode(), "version None"),
    (json.dumps({**state(), "lineage": ""}).encode(), "no lineage"),
    (json.dumps({**state(), "lineage": 7}).encode(), "no lineage"),
    (json.dumps({**state(), "serial": -1}).encode(), "serial -1"),
    (json.dumps({**state(), "serial": "3"}).encode(), "serial '3'"),
    (json.dumps({**state(), "serial": True}).encode(), "serial True"),
    (json.dumps({**state(), "resources": {}}).encode(), "resources must be a list"),
    (json.dumps({**state(), "outputs": []}).encode(), "outputs an object"),
])
def test_files_that_are_not_a_state_are_refused_with_what_is_wrong(raw: bytes, fragment: str) -> None:
    with pytest.raises(StateFileError, match=fragment):
        parse_state_file(raw)


@pytest.mark.parametrize("current", [
    None,  # no Secret, or a Secret without a state (what the controller creates)
    state(serial=1, lineage="init", resources=0),  # what `terraform init` writes
    {"version": 4, "serial": 0, "lineage": "x"},  # no resources or outputs keys at all
])
def test_an_absent_or_empty_state_is_replaced_without_force(current: dict | None) -> None:
    incoming = state(serial=7)
    plan = plan_import(current, incoming, None)
    assert plan.document["lineage"] == "aaaa-1"  # the imported state keeps its identity
    assert plan.document["serial"] == 7
    assert plan.document["resources"] == incoming["resources"]
    assert is_empty(current)


def test_the_serial_is_raised_above_the_replaced_state() -> None:
    plan = plan_import(state(serial=9, resources=0), state(serial=4), None)
    assert plan.document["serial"] == 10
    assert any("serial raised from 4 to 10" in n for n in plan.notes)
    same = plan_import(state(serial=4, resources=0), state(serial=4), None)
    assert same.document["serial"] == 5


@pytest.mark.parametrize("current", [state(resources=2), state(resources=0, outputs=1), state(resources=1, outputs=1)])
def test_a_state_with_resources_or_outputs_needs_force_with_its_serial(current: dict) -> None:
    with pytest.raises(ImportRefused, match=r"pass --force 3"):
        plan_import(current, state(serial=8), None)
    for wrong in (2, 4, 0, 8):
        with pytest.raises(ImportRefused, match=r"its serial is 3"):
            plan_import(current, state(serial=8), wrong)
    assert plan_import(current, state(serial=8), 3).document["serial"] == 8


def test_forced_over_a_newer_state_or_another_lineage() -> None:
    older = plan_import(state(serial=12), state(serial=5), 12)
    assert older.document["serial"] == 13
    other = plan_import(state(serial=2, lineage="bbbb"), state(serial=5), 2)
    assert other.document["lineage"] == "aaaa-1"
    assert any("another lineage (bbbb)" in n for n in other.notes)


def test_the_incoming_document_is_not_changed() -> None:
    incoming = state(serial=1)
    plan_import(state(serial=5, resources=0), incoming, None)
    assert incoming["serial"] == 1


def test_a_state_too_large_for_one_secret_is_refused() -> None:
    import os

    big = state()
    big["resources"][0]["instances"] = [{"attributes": {"blob": os.urandom(1024 * 1024).hex()}}]
    with pytest.raises(ImportRefused, match="terraform state push"):
        encode_state(big)
