"""The dev cluster's store (store.py) on its own: its namespace, label and owner indexes always answer
what a scan of every object would, after any mix of creates, relabels, moves of owner references,
deletes, a snapshot and a restore (the deletion index, the objects with a deletionTimestamp, too); stored objects are never changed in place (the read paths hand them
out without copying); the serialise-once cache gives the bytes json.dumps gives, for the current version;
a list at an old resourceVersion equals the state at that version."""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import pytest

from tfcontroller.dev.cluster.selectors import label_equalities, label_selector
from tfcontroller.dev.cluster.store import Store

GR = ("", "configmaps")
NAMESPACES = ["a", "b", "c", ""]
SELECTORS = [
    None, "app=x", "app==y", "app in (x,z)", "app!=x", "app notin (x)", "tier", "!tier", "app=x,tier=web",
    "app in (x,y),tier!=db", "tier=web,app", "app=nothing",
]


def make(rng: random.Random, i: int, uids: list[str]) -> dict[str, Any]:
    labels = {k: rng.choice(vals) for k, vals in (("app", "xyz"), ("tier", ["web", "db"])) if rng.random() < 0.7}
    meta: dict[str, Any] = {"name": f"o{rng.randrange(40)}", "namespace": rng.choice(NAMESPACES),
                            "uid": f"u{i}", "labels": labels}
    if uids and rng.random() < 0.5:
        meta["ownerReferences"] = [{"uid": rng.choice(uids)}]
    if rng.random() < 0.15:  # being deleted (the garbage collector's deletion index)
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta, "data": {"i": str(i)}}


def scan(store: Store, namespace: str | None, selector: str | None) -> list[dict[str, Any]]:
    """What the indexes must answer: every stored object, filtered, in (namespace, name) order."""
    match = label_selector(selector)
    everything = [o for _, _, o in store.find(lambda o: True)]
    chosen = [o for o in everything if (namespace is None or o["metadata"]["namespace"] == namespace) and match(o)]
    return sorted(chosen, key=lambda o: (o["metadata"]["namespace"], o["metadata"]["name"]))


def indexed(store: Store, namespace: str | None, selector: str | None) -> list[dict[str, Any]]:
    match = label_selector(selector)
    return [o for o in store.view_list(*GR, namespace, label_equalities(selector)) if match(o)]


def churn(store: Store, seed: int, writes: int) -> None:
    rng = random.Random(seed)
    uids: list[str] = []
    for i in range(writes):
        if rng.random() < 0.2:
            listed = store.view_list(*GR)
            if listed:
                victim = rng.choice(listed)["metadata"]
                store.remove(*GR, victim["namespace"], victim["name"])
                continue
        obj = make(rng, i, uids)
        current = store.view(*GR, obj["metadata"]["namespace"], obj["metadata"]["name"])
        if current is not None:
            obj["metadata"]["uid"] = current["metadata"]["uid"]  # a rewrite keeps its uid
        store.put(*GR, obj)
        uids.append(obj["metadata"]["uid"])


def assert_indexes_agree(store: Store) -> None:
    for namespace in [None, *NAMESPACES]:
        for selector in SELECTORS:
            assert indexed(store, namespace, selector) == scan(store, namespace, selector), (namespace, selector)
    everything = [o for _, _, o in store.find(lambda o: True)]
    for uid in {o["metadata"]["uid"] for o in everything} | {"u-none"}:
        want = sorted(o["metadata"]["name"] + o["metadata"]["namespace"] for o in everything
                      if any(r["uid"] == uid for r in o["metadata"].get("ownerReferences") or []))
        got = sorted(o["metadata"]["name"] + o["metadata"]["namespace"] for _, _, o in store.owned_by(uid))
        assert got == want, uid
    deleting = [o for o in scan(store, None, None) if o["metadata"].get("deletionTimestamp")]
    assert deleting, "the churn made no object with a deletionTimestamp: the check below would be empty"
    assert [o for _, _, o in store.deleting()] == deleting


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_indexes_answer_what_a_scan_answers(seed: int) -> None:
    store = Store()
    churn(store, seed, 400)
    assert_indexes_agree(store)


def test_indexes_survive_a_snapshot_and_restore() -> None:
    store = Store()
    churn(store, 7, 300)
    restored = Store()
    restored.restore(json.loads(json.dumps(store.snapshot())))
    assert_indexes_agree(restored)
    churn(restored, 8, 200)  # and keep agreeing as the restored store changes
    assert_indexes_agree(restored)


def test_a_namespace_narrows_when_it_is_smaller_than_the_label_match() -> None:
    store = Store()
    for i in range(50):
        store.put(*GR, {"metadata": {"name": f"n{i}", "namespace": "big", "uid": f"b{i}", "labels": {"all": "yes"}}})
    store.put(*GR, {"metadata": {"name": "one", "namespace": "small", "uid": "s", "labels": {"all": "yes"}}})
    assert [o["metadata"]["name"] for o in indexed(store, "small", "all=yes")] == ["one"]
    assert len(indexed(store, None, "all=yes")) == 51


def test_stored_objects_are_never_changed_in_place() -> None:
    store = Store()
    store.put(*GR, {"metadata": {"name": "x", "namespace": "a", "uid": "u", "labels": {"app": "x"}}, "data": {"k": "1"}})
    view = store.view(*GR, "a", "x")
    assert view is not None
    before = copy.deepcopy(view)
    store.put(*GR, {"metadata": {"name": "x", "namespace": "a", "uid": "u", "labels": {"app": "y"}}, "data": {"k": "2"}})
    store.remove(*GR, "a", "x")
    assert view == before  # a reader holding the old version still sees it whole
    store.put(*GR, {"metadata": {"name": "y", "namespace": "a", "uid": "v"}, "data": {"k": "1"}})
    mine = store.get(*GR, "a", "y")
    assert mine is not None
    mine["data"]["k"] = "changed by a writer"
    for listed in store.list(*GR):
        listed["data"]["k"] = "changed too"
    assert store.view(*GR, "a", "y") == {"metadata": {"name": "y", "namespace": "a", "uid": "v",
                                                      "resourceVersion": "4"}, "data": {"k": "1"}}


def test_encoded_is_json_dumps_of_the_current_version() -> None:
    store = Store()
    store.put(*GR, {"metadata": {"name": "x", "namespace": "a", "uid": "u"}, "data": {"k": "1"}})
    for k in ("2", "3"):
        stored = store.view(*GR, "a", "x")
        assert stored is not None
        for version in ("v1", "v2"):
            view = {**stored, "apiVersion": version, "kind": "ConfigMap"}
            want = json.dumps(view, separators=(",", ":")).encode()
            assert store.encoded(*GR, view) == want
            assert store.encoded(*GR, view) == want  # from the cache
        store.put(*GR, {"metadata": {"name": "x", "namespace": "a", "uid": "u"}, "data": {"k": k}})
    old = {**stored, "apiVersion": "v1", "kind": "ConfigMap"}  # an old version (a list at an old rv) is encoded too
    assert store.encoded(*GR, old) == json.dumps(old, separators=(",", ":")).encode()
    current = store.view(*GR, "a", "x")
    assert current is not None and b'"k":"3"' in store.encoded(*GR, {**current, "apiVersion": "v1"})


@pytest.mark.parametrize("namespace", [None, "a", "b"])
def test_list_at_an_old_version_is_the_state_then(namespace: str | None) -> None:
    store = Store()
    rng = random.Random(11)
    states: dict[int, list[dict[str, Any]]] = {}
    churn(store, 12, 50)
    for step in range(150):
        churn(store, 100 + step, 1)
        states[store.rv] = copy.deepcopy(scan(store, namespace, None))
    for rv in rng.sample(sorted(states), 30):
        assert store.list_at(*GR, namespace, rv) == states[rv]


@pytest.mark.parametrize("namespace", [None, "b"])
@pytest.mark.parametrize("selector", [None, "app=x", "app in (x,y),tier!=db", "!tier"])
def test_pages_at_an_old_version_join_up_to_the_whole_list(namespace: str | None, selector: str | None) -> None:
    store = Store()
    churn(store, 21, 300)
    at = store.rv
    want = scan(store, namespace, selector)
    churn(store, 22, 150)  # changes after the version the pages are cut from
    match = label_selector(selector)
    for limit in (1, 7, 50):
        got: list[dict[str, Any]] = []
        after = None
        while True:
            page = store.select(*GR, namespace, label_equalities(selector), match, after, limit, at)
            assert page is not None
            got += page.items
            if not page.more:
                break
            last = page.items[-1]["metadata"]
            after = (last["namespace"], last["name"])
            if selector is None:  # remainingItemCount: every object after the page at that version
                assert page.remaining == len(want) - len(got)
        assert got == want, limit


def test_a_page_stops_walking_once_it_is_full() -> None:
    store = Store()
    for i in range(2000):
        store.put(*GR, {"metadata": {"name": f"n{i:04d}", "namespace": f"s{i % 20}", "uid": f"u{i}"}})
    seen: list[str] = []

    def match(obj: dict[str, Any]) -> bool:
        seen.append(obj["metadata"]["name"])
        return True

    page = store.select(*GR, None, None, match, ("s3", "n0003"), 5)
    assert page is not None and page.more and len(page.items) == 5
    assert page.items[0]["metadata"]["name"] == "n0023" and len(seen) == 6  # five, and one to know there is more
    # after it: the rest of s3 (100 names, the page ends at its 6th) and s4..s9 (names sort as strings)
    assert page.remaining == (100 - 6) + 6 * 100
