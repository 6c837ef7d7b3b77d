"""Unit tests of listing.py (which state a list reads for each resourceVersion/match/limit/continue
combination, ListOptions validation, continue tokens) and of Store.list_at (rewinding the event log)."""

from __future__ import annotations

import pytest

from tfcontroller.dev.cluster import listing
from tfcontroller.dev.cluster.errors import ApiError
from tfcontroller.dev.cluster.listing import CURRENT, ContinueToken, Plan, plan
from tfcontroller.dev.cluster.store import Store


def test_plans() -> None:
    assert plan(None, None, 0, None) == Plan()
    assert plan("0", None, 5, None) == Plan()
    assert plan("0", "NotOlderThan", 0, None) == Plan()
    assert plan("7", None, 0, None) == Plan(at_least=7)
    assert plan("7", "NotOlderThan", 3, None) == Plan(at_least=7)
    assert plan("7", "Exact", 0, None) == Plan(exact=7, at_least=7)
    assert plan("7", None, 3, None) == Plan(exact=7, at_least=7)  # the legacy exact form
    token = ContinueToken(("ns", "b"), 9).encode()
    assert plan(None, None, 1, token) == Plan(exact=9, after=("ns", "b"))
    assert plan("0", None, 1, ContinueToken(("", "x"), CURRENT).encode()) == Plan(after=("", "x"))


@pytest.mark.parametrize(("rv", "match", "cont", "code"), [
    (None, "Exact", None, 422),
    ("0", "Exact", None, 422),
    ("3", "Newest", None, 422),
    ("3", None, "e30=", 400),
    (None, None, "not-base64!", 400),
    ("x", None, None, 400),
])
def test_invalid_options(rv: str | None, match: str | None, cont: str | None, code: int) -> None:
    with pytest.raises(ApiError) as err:
        plan(rv, match, 0, cont)
    assert err.value.code == code


def test_old_tokens_without_rv_continue_from_the_current_state() -> None:
    import base64
    import json

    old = base64.urlsafe_b64encode(json.dumps({"after": ["", "a"]}).encode()).decode()
    assert ContinueToken.decode(old) == ContinueToken(("", "a"), CURRENT)


def test_expired_continue_carries_a_current_token_only_when_items_remain() -> None:
    err = listing.expired_continue(("", "a"), True)
    assert err.code == 410 and ContinueToken.decode(err.status()["metadata"]["continue"]).rv == CURRENT
    assert "continue" not in listing.expired_continue(("", "a"), False).status()["metadata"]


def _obj(name: str, value: str, ns: str = "n") -> dict:
    return {"metadata": {"name": name, "namespace": ns, "uid": name}, "data": value}


def test_store_list_at_rewinds_adds_changes_and_removals() -> None:
    store = Store()
    store.put("", "configmaps", _obj("a", "1"))
    store.put("", "configmaps", _obj("b", "1"))
    store.put("", "secrets", _obj("s", "1"))
    at = store.rv
    store.put("", "configmaps", _obj("a", "2"))
    store.remove("", "configmaps", "n", "b")
    store.put("", "configmaps", _obj("c", "1"))
    store.put("", "configmaps", _obj("d", "1", ns="other"))
    then = store.list_at("", "configmaps", "n", at)
    assert then is not None
    assert [(o["metadata"]["name"], o["data"]) for o in then] == [("a", "1"), ("b", "1")]
    assert [o["metadata"]["name"] for o in store.list_at("", "configmaps", None, store.rv) or []] == \
        [o["metadata"]["name"] for o in store.list("", "configmaps")]
    store.compact()
    assert store.list_at("", "configmaps", "n", at) is None
    assert store.list_at("", "configmaps", "n", store.rv) is not None


def test_store_list_at_window() -> None:
    store = Store(window=2)
    for i in range(4):
        store.put("", "configmaps", _obj(f"o{i}", "x"))
    assert store.list_at("", "configmaps", None, 1) is None  # events 1 and 2 fell out of the log
    kept = store.list_at("", "configmaps", None, 2)
    assert [o["metadata"]["name"] for o in kept or []] == ["o0", "o1"]
