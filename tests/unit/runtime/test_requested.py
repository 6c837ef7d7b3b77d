"""The requested-at annotation: a new value is a request to handle and echo in status, once."""

from __future__ import annotations

from tfcontroller.runtime.requested import REQUESTED_AT_ANNOTATION, mark_handled, requested


def obj(annotation: str | None, handled: str | None) -> dict:
    o: dict = {"metadata": {"name": "x", "annotations": {}}, "status": {}}
    if annotation is not None:
        o["metadata"]["annotations"][REQUESTED_AT_ANNOTATION] = annotation
    if handled is not None:
        o["status"]["lastHandledRequestedAt"] = handled
    return o


def test_no_annotation_is_no_request() -> None:
    r = requested(obj(None, None))
    assert not r.is_new
    assert r.status_update() == {}


def test_new_value_is_a_request_and_is_echoed_once() -> None:
    o = obj("t1", None)
    assert requested(o).is_new
    assert requested(o).status_update() == {"lastHandledRequestedAt": "t1"}
    assert mark_handled(o)
    assert o["status"]["lastHandledRequestedAt"] == "t1"
    assert not requested(o).is_new
    assert not mark_handled(o)


def test_changed_value_is_new_again() -> None:
    assert requested(obj("t2", "t1")).is_new
    assert not requested(obj("t1", "t1")).is_new
