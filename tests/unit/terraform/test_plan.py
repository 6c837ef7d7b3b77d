"""Plan model on plain `show -json` dicts: counts (replacements, reads, no-ops), the digest's stability
and sensitivity to changes, masking of sensitive and unknown values, the plan id, and the text rendering."""

from __future__ import annotations

import copy
from typing import Any

from tfcontroller.api.constants import is_plan_id
from tfcontroller.terraform.plan import human_readable, make_plan_id, masked, plan_digest, summarize


def rc(address: str, actions: list[str], after: Any = None, before: Any = None, mode: str = "managed",
       after_sensitive: Any = False, after_unknown: Any = False) -> dict[str, Any]:
    return {"address": address, "mode": mode, "change": {
        "actions": actions, "before": before, "after": after, "after_sensitive": after_sensitive,
        "after_unknown": after_unknown, "before_sensitive": after_sensitive}}


def plan(*changes: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"format_version": "1.2", "terraform_version": "1.11.4", "timestamp": "2026-01-01T00:00:00Z",
            "resource_changes": list(changes), **extra}


SHOW = plan(
    rc("a.new", ["create"], {"input": "x", "id": None}, after_unknown={"id": True}),
    rc("a.changed", ["update"], {"tags": {"env": "prod"}}, {"tags": {"env": "dev"}}),
    rc("a.gone", ["delete"], None, {"x": 1}),
    rc("a.replaced", ["delete", "create"], {"x": 2}, {"x": 1}),
    rc("a.same", ["no-op"], {"x": 1}, {"x": 1}),
    rc("data.d.read", ["read"], {"x": 1}, mode="data"),
    output_changes={"o": {"actions": ["create"], "after": "v"}, "same": {"actions": ["no-op"]}},
)


def test_summary_counts() -> None:
    s = summarize(SHOW)
    assert (s.add, s.change, s.destroy) == (2, 1, 2)
    assert [r.kind for r in s.resources] == ["create", "update", "delete", "replace"]
    assert s.outputs_changed == ("o",)
    assert s.has_changes


def test_no_changes() -> None:
    s = summarize(plan(rc("a.same", ["no-op"])))
    assert not s.has_changes and (s.add, s.change, s.destroy) == (0, 0, 0)


def test_creates_everything_needs_empty_prior_state() -> None:
    creating = plan(rc("a.x", ["create"], {}), rc("a.y", ["create"], {}))
    assert summarize(creating).creates_everything
    with_prior = dict(creating, prior_state={"values": {"root_module": {"resources": [{"mode": "managed"}]}}})
    assert not summarize(with_prior).creates_everything
    assert not summarize(SHOW).creates_everything


def test_creates_everything_ignores_reads_and_counts_existing_resources() -> None:
    """The cases the state-loss guard depends on (design.md §4.5): a data source read is no resource; a
    resource left unchanged exists in the prior state, so the plan does not create everything."""
    assert summarize(plan(rc("a.x", ["create"], {}), rc("data.d.r", ["read"], {}, mode="data"))).creates_everything
    existing = {"values": {"root_module": {"resources": [{"mode": "managed", "address": "a.y"}]}}}
    mixed = plan(rc("a.x", ["create"], {}), rc("a.y", ["no-op"], {}), prior_state=existing)
    assert not summarize(mixed).creates_everything
    assert not summarize(plan()).creates_everything


def test_digest_stable_and_ignores_metadata() -> None:
    other = copy.deepcopy(SHOW)
    other["timestamp"] = "2030-01-01T00:00:00Z"
    other["terraform_version"] = "1.12.0"
    other["resource_changes"].reverse()
    assert plan_digest(SHOW) == plan_digest(other)
    assert plan_digest(SHOW).startswith("sha256:")


def test_digest_changes_with_what_would_change() -> None:
    other = copy.deepcopy(SHOW)
    other["resource_changes"][1]["change"]["after"]["tags"]["env"] = "staging"
    assert plan_digest(SHOW) != plan_digest(other)
    fewer = copy.deepcopy(SHOW)
    fewer["resource_changes"].pop(2)
    assert plan_digest(SHOW) != plan_digest(fewer)
    # A no-op resource appearing or vanishing is not a change.
    noop = copy.deepcopy(SHOW)
    noop["resource_changes"].append(rc("a.other", ["no-op"], {"z": 1}))
    assert plan_digest(SHOW) == plan_digest(noop)


def test_digest_masks_sensitive_values_unless_salted() -> None:
    def with_password(pw: str) -> dict[str, Any]:
        return plan(rc("a.db", ["update"], {"password": pw, "size": 1}, after_sensitive={"password": True}))
    assert plan_digest(with_password("one")) == plan_digest(with_password("two"))
    salt = b"k" * 32
    assert plan_digest(with_password("one"), salt) != plan_digest(with_password("two"), salt)
    assert plan_digest(with_password("one"), salt) == plan_digest(with_password("one"), salt)


def test_masked_nested() -> None:
    value = {"a": [1, {"s": "secret"}], "b": "x"}
    got = masked(value, {"a": [False, {"s": True}]}, {"c": True})
    assert got == {"a": [1, {"s": "(sensitive)"}], "b": "x", "c": "(known after apply)"}
    assert masked("all", True, False) == "(sensitive)"


def test_plan_id() -> None:
    pid = make_plan_id("refs/heads/Main", "sha1:" + "ab" * 20, plan_digest(SHOW))
    assert pid.startswith("plan-refs-heads-main-abababab")
    assert is_plan_id(pid)
    assert pid.endswith(plan_digest(SHOW)[len("sha256:"):][:8])


def test_human_readable_masks_sensitive() -> None:
    show = plan(
        rc("a.db", ["create"], {"password": "hunter22", "name": "db"}, after_sensitive={"password": True}),
        rc("a.cfg", ["update"], {"v": 2, "k": "same"}, {"v": 1, "k": "same"}),
        rc("a.old", ["delete"], None, {"x": 1}),
        output_changes={"secret": {"actions": ["create"], "after": "hunter22", "after_sensitive": True}},
    )
    text = human_readable(show)
    assert "hunter22" not in text
    assert text.splitlines()[0] == "Plan: 1 to add, 1 to change, 1 to destroy."
    assert "+ a.db (create)" in text and 'password = (sensitive)' in text and 'name = "db"' in text
    assert "v: 1 -> 2" in text and "k:" not in text
    assert "- a.old (delete)" in text
    assert "secret = (sensitive)" in text
