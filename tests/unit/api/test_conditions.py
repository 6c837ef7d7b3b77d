"""tfcontroller.api.conditions: setting, finding and removing kstatus conditions."""

from __future__ import annotations

import datetime as dt

import pytest

from tfcontroller.api import conditions as c
from tfcontroller.api.times import format_rfc3339

T0 = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
T1 = T0 + dt.timedelta(minutes=5)


def test_set_new_condition_on_dicts() -> None:
    conds: list = []
    got = c.set_condition(conds, c.READY, c.FALSE, c.PROGRESSING, "Fetching", observed_generation=2, now=T0)
    assert conds == [{"type": "Ready", "status": "False", "reason": "Progressing", "message": "Fetching",
                      "lastTransitionTime": "2024-01-02T03:04:05Z", "observedGeneration": 2}]
    assert got.last_transition_time == "2024-01-02T03:04:05Z"


def test_transition_time_kept_when_status_unchanged() -> None:
    conds: list = []
    c.set_condition(conds, c.READY, c.FALSE, c.PROGRESSING, "a", 1, now=T0)
    c.set_condition(conds, c.READY, c.FALSE, c.FAILED, "b", 2, now=T1)
    assert conds[0]["lastTransitionTime"] == "2024-01-02T03:04:05Z"
    assert (conds[0]["reason"], conds[0]["message"], conds[0]["observedGeneration"]) == (c.FAILED, "b", 2)
    c.set_condition(conds, c.READY, c.TRUE, c.SUCCEEDED, "ok", 2, now=T1)
    assert conds[0]["lastTransitionTime"] == "2024-01-02T03:09:05Z"
    assert len(conds) == 1


def test_condition_objects_stay_objects() -> None:
    conds: list = [c.Condition("Ready", "True", "X", "", "2020-01-01T00:00:00Z", 1)]
    c.set_condition(conds, c.READY, c.TRUE, "Y", "m", 3, now=T1)
    c.set_condition(conds, c.STALLED, c.TRUE, "Z", "m", 3, now=T1)
    assert all(isinstance(x, c.Condition) for x in conds)
    assert conds[0].last_transition_time == "2020-01-01T00:00:00Z"


def test_find_is_true_remove() -> None:
    conds: list = []
    assert c.find(conds, c.READY) is None and not c.is_true(conds, c.READY) and not c.is_false(conds, c.READY)
    c.set_condition(conds, c.READY, c.TRUE, c.SUCCEEDED, "", now=T0)
    c.set_condition(conds, c.STALLED, c.FALSE, "x", "", now=T0)
    assert c.is_true(conds, c.READY) and c.is_false(conds, c.STALLED)
    assert c.find(conds, c.READY) == c.Condition("Ready", "True", c.SUCCEEDED, "", "2024-01-02T03:04:05Z", None)
    assert c.remove_condition(conds, c.STALLED) and not c.remove_condition(conds, c.STALLED)
    assert [x["type"] for x in conds] == ["Ready"]
    assert c.is_true(None, c.READY) is False


def test_round_trip_and_bad_status() -> None:
    d = {"type": "Applied", "status": "Unknown", "reason": "R", "message": "m",
         "lastTransitionTime": "2024-01-02T03:04:05Z", "observedGeneration": 4}
    assert c.Condition.from_dict(d).to_dict() == d
    with pytest.raises(ValueError):
        c.set_condition([], c.READY, "yes", "R", "m")


def test_rfc3339_naive_is_utc() -> None:
    assert format_rfc3339(dt.datetime(2024, 1, 2, 3, 4, 5)) == "2024-01-02T03:04:05Z"
