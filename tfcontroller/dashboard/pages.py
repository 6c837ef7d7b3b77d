"""A stand-in for the pages (C2's `pages.py` replaces this file): the signatures of Interface 4, each
page showing little more than the object, so the server (routes, sessions, actions, live) can be tested
before the real pages land."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tfcontroller.dashboard.viewer import Viewer
from tfcontroller.kube.resources import EVENTS, GITREPOSITORIES, MANIFESTSETS, TERRAFORMS, Resource


@dataclass(frozen=True)
class WatchTarget:
    resource: Resource
    namespace: str | None
    name: str | None


@dataclass(frozen=True)
class Page:
    template: str
    context: dict[str, Any]
    watch: list[WatchTarget] = field(default_factory=list)


def overview(viewer: Viewer, namespace: str | None, kind: str | None, state: str | None) -> Page:
    rows = []
    for res in (GITREPOSITORIES, TERRAFORMS, MANIFESTSETS):
        items, _ = viewer.client.list_all(res, namespace)
        rows += [(res.kind, i["metadata"]["namespace"], i["metadata"]["name"]) for i in items]
    return Page("_stub.html", {"title": "overview", "rows": rows},
                [WatchTarget(r, namespace, None) for r in (GITREPOSITORIES, TERRAFORMS, MANIFESTSETS)])


def _object(viewer: Viewer, res: Resource, namespace: str, name: str) -> Page:
    obj = viewer.client.get(res, name, namespace)
    return Page("_stub.html", {"title": f"{res.kind} {namespace}/{name}", "obj": obj, "resource": res},
                [WatchTarget(res, namespace, name), WatchTarget(EVENTS, namespace, None)])


def terraform(viewer: Viewer, namespace: str, name: str) -> Page:
    return _object(viewer, TERRAFORMS, namespace, name)


def manifestset(viewer: Viewer, namespace: str, name: str) -> Page:
    return _object(viewer, MANIFESTSETS, namespace, name)


def gitrepository(viewer: Viewer, namespace: str, name: str) -> Page:
    return _object(viewer, GITREPOSITORIES, namespace, name)


def graph(viewer: Viewer, namespace: str | None) -> Page:
    return overview(viewer, namespace, None, None)
