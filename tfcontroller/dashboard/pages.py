"""The dashboard's pages: what each one reads (as the viewer, through `viewer.client`) and hands to its
template. C1's routes (app.py) call these functions and render `Page.template` with `Page.context`; the
live endpoint watches `Page.watch` to tell the browser when to fetch the page again.

Rules every page keeps:
- Reads are the viewer's own: a Forbidden or NotFound of the object itself propagates (the server renders
  a 403 / 404 page naming it); a refusal of a *part* (Events, the readable plan, runner Pods, an inventory
  object) shows a note in that part, so a viewer with narrow RBAC still sees what they may.
- No Secret value is ever read into a page, except the readable plan document, which the controller
  stores already masked (terraform/plan_view.py) — and it is shown only to viewers who may read it.
  Outputs are names only (`status.availableOutputs`), history and conditions are status text the
  controller scrubbed.
- Bounded: one LIST per kind for the overview and the graph (no per-object call), at most
  `INVENTORY_LIMIT` GETs for a ManifestSet's inventory, `GRAPH_HEALTH_LIMIT` for the graph, the last
  `LOG_LINES` lines of a run's log.
Pure decisions live beside: overview.py (states, counters, filters), graph.py (nodes, edges, layout),
operations/ (Events, runner Pods, the drift report), shared with the CLI.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tfcontroller.api import conditions as c
from tfcontroller.api.approvable import approvability
from tfcontroller.api.constants import tfplanview_secret_name
from tfcontroller.api.history import HistoryEntry, history_of
from tfcontroller.api.meta import shown_revision
from tfcontroller.api.policy_verdict import exceptions_of, policy_of, result_rows, verdict
from tfcontroller.api.terraform_status import PendingPlan
from tfcontroller.api.times import short_age
from tfcontroller.dashboard import graph as graphs
from tfcontroller.dashboard import overview as ov
from tfcontroller.dashboard.viewer import Viewer
from tfcontroller.kube.errors import ApiError, Forbidden, NotFound
from tfcontroller.kube.resources import EVENTS, GITREPOSITORIES, MANIFESTSETS, PODS, TERRAFORMS, Resource
from tfcontroller.manifests.health import assess
from tfcontroller.manifests.inventory import InventoryEntry
from tfcontroller.operations.drift_report import DriftReport
from tfcontroller.operations.events import event_count, event_message, event_time, list_object_events_at
from tfcontroller.operations.run_logs import (
    LABEL_TERRAFORM,
    RUNNER_CONTAINER,
    RunPod,
    choose,
    header,
    in_flight_pods,
)
from tfcontroller.terraform.plan_view import DiffLine, diff_lines
from tfcontroller.terraform.plan_view_store import PlanViewNotFoundError, load_plan_view

KINDS: tuple[Resource, ...] = (GITREPOSITORIES, TERRAFORMS, MANIFESTSETS)  # data-flow order
INVENTORY_LIMIT = 200  # GETs of inventory objects on a ManifestSet page
GRAPH_HEALTH_LIMIT = 100  # GETs of inventory objects for the graph's node states
LOG_LINES = 500  # the last lines of a run's log shown
EVENTS_LIMIT = 50


@dataclass(frozen=True)
class WatchTarget:
    """What the live endpoint watches for a page: a kind, in a namespace (None: all) and by name (None: all),
    and the resourceVersion the page's read of it returned (a GET's object version, a LIST's list version;
    "" when the page could not read it). The live stream starts its watch there, so a change between the
    render and the stream is announced too."""

    resource: Resource
    namespace: str | None
    name: str | None
    version: str = ""


@dataclass(frozen=True)
class Page:
    template: str
    context: dict[str, Any]
    watch: list[WatchTarget] = field(default_factory=list)


# ---- names from the URL ---------------------------------------------------------------------------------

_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")  # an RFC 1123 label
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")  # an RFC 1123 subdomain (every kind of ours)


def checked(namespace: str, name: str | None = None) -> None:
    """Refuse (404) a namespace or name that cannot be one before it becomes part of an API path: the client
    does not quote path segments, so `..` or `a/b` from a URL must never reach it. Pure."""
    if not _NAMESPACE.fullmatch(namespace) or (name is not None and (not _NAME.fullmatch(name) or ".." in name)):
        raise NotFound(404, "NotFound", f"{namespace}/{name}" if name is not None else namespace)


def checked_route(args: Mapping[str, Any]) -> None:
    """`checked` on the namespace and name a route took from its URL (Flask's view arguments), if it took
    any: every route — page, action, the page a live stream names — refuses them the same way. Pure."""
    if "namespace" in args or "name" in args:
        checked(str(args.get("namespace", "")), str(args["name"]) if "name" in args else None)


def _filter_namespace(namespace: str | None) -> tuple[str | None, list[str]]:
    """The overview's and graph's namespace filter: None when empty; a value that cannot be a namespace
    shows nothing, with a note, rather than an error page."""
    if not namespace:
        return None, []
    try:
        checked(namespace)
    except NotFound:
        return namespace, [f"{namespace!r} is not a namespace name: nothing to show."]
    return namespace, []


# ---- shared parts -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventRow:
    type: str
    reason: str
    message: str
    age: str
    time: str
    count: int


@dataclass(frozen=True)
class Part:
    """A part of a page that may be refused on its own: its items, or a note saying why there are none."""

    items: list[Any]
    note: str = ""
    version: str = ""  # the resourceVersion of the read that gave the items (where a watch of them starts)


def _refusal(what: str, namespace: str | None, exc: ApiError) -> str:
    where = f' in namespace "{namespace}"' if namespace else " in all namespaces"
    return f"You may not {what}{where} ({exc.reason or exc.status})."


def _events(viewer: Viewer, obj: Mapping[str, Any]) -> Part:
    ns = (obj.get("metadata") or {}).get("namespace")
    try:
        events, version = list_object_events_at(viewer.client, obj, newest_first=True)
    except Forbidden as exc:
        return Part([], _refusal("list events", ns, exc))
    return Part([EventRow(str(e.get("type") or ""), str(e.get("reason") or ""), event_message(e),
                          short_age(event_time(e)), event_time(e), event_count(e)) for e in events[:EVENTS_LIMIT]],
                version=version)


def _conditions(obj: Mapping[str, Any]) -> list[c.Condition]:
    """The conditions, Ready first, then as the controller wrote them."""
    found = [c.Condition.from_dict(x) for x in (obj.get("status") or {}).get("conditions") or []
             if isinstance(x, Mapping)]
    return sorted(found, key=lambda cond: cond.type != c.READY)


def _get(viewer: Viewer, resource: Resource, namespace: str, name: str) -> dict[str, Any]:
    checked(namespace, name)
    obj = viewer.client.get(resource, name, namespace)
    obj.setdefault("kind", resource.kind)
    obj.setdefault("apiVersion", resource.api_version)
    return obj


def _common(viewer: Viewer, resource: Resource, obj: dict[str, Any]) -> dict[str, Any]:
    """What every object page shows: identity, Ready, conditions, suspend, events, and what the viewer may do."""
    meta = obj["metadata"]
    ns, name = str(meta.get("namespace") or ""), str(meta["name"])
    conditions = _conditions(obj)
    ready = next((x for x in conditions if x.type == c.READY), None)
    can_patch = viewer.can("patch", resource, ns, name)
    return {
        "obj": obj, "kind": resource.kind, "namespace": ns, "name": name, "title": f"{resource.kind} {ns}/{name}",
        "conditions": conditions, "ready": ready, "suspended": (obj.get("spec") or {}).get("suspend") is True,
        "revision": shown_revision(obj), "created": str(meta.get("creationTimestamp") or ""),
        "age": short_age(meta.get("creationTimestamp")), "events": _events(viewer, obj),
        "can_patch": can_patch,
        "why_not": "" if can_patch else
        f"{viewer.username or 'you'} may not patch {resource.plural}/{name} in namespace {ns}",
        "action_base": f"/{resource.kind.lower()}/{ns}/{name}",
    }


def _object_watch(resource: Resource, context: Mapping[str, Any]) -> list[WatchTarget]:
    """An object page watches the object (from the version it showed) and its namespace's Events (from the
    version of the Events list it showed)."""
    obj, ns, name = context["obj"], context["namespace"], context["name"]
    return [WatchTarget(resource, ns, name, str(obj["metadata"].get("resourceVersion") or "")),
            WatchTarget(EVENTS, ns, None, context["events"].version)]


# ---- overview -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Listed:
    """One LIST of a kind as a page made it: the items, a note ("" when nothing was cut), and what to watch
    for them: the namespace actually listed (None: all) from the list's resourceVersion."""

    items: list[dict[str, Any]]
    note: str
    target: WatchTarget


def _list_in(viewer: Viewer, resource: Resource, namespace: str | None) -> Listed:
    items, version = viewer.client.list_all(resource, namespace)
    return Listed(items, "", WatchTarget(resource, namespace, None, version))


def _list_scope(viewer: Viewer, resource: Resource, namespace: str | None) -> Listed:
    """One LIST of the kind: in `namespace`, else in every namespace, falling back to the viewer's default
    namespace when a cluster-wide list is refused (then that namespace is what the page watches)."""
    if namespace:
        try:
            return _list_in(viewer, resource, namespace)
        except Forbidden as exc:
            return Listed([], _refusal(f"list {resource.plural}", namespace, exc), WatchTarget(resource, namespace, None))
    try:
        return _list_in(viewer, resource, None)
    except Forbidden:
        pass
    ns = viewer.default_namespace
    try:
        listed = _list_in(viewer, resource, ns)
    except Forbidden as exc:
        return Listed([], _refusal(f"list {resource.plural}", ns, exc), WatchTarget(resource, ns, None))
    return Listed(listed.items, f'You may not list {resource.plural} in all namespaces: showing namespace "{ns}" '
                                "only (choose another namespace in the filter).", listed.target)


def _list_kinds(viewer: Viewer, namespace: str | None) -> tuple[list[dict[str, Any]], list[str], list[WatchTarget]]:
    objects: list[dict[str, Any]] = []
    notes: list[str] = []
    targets: list[WatchTarget] = []
    for resource in KINDS:
        listed = _list_scope(viewer, resource, namespace)
        objects.extend(listed.items)
        notes += [listed.note] if listed.note else []
        targets.append(listed.target)
    return objects, notes, targets


def overview(viewer: Viewer, namespace: str | None, kind: str | None, state: str | None) -> Page:
    """Every GitRepository, Terraform and ManifestSet in view with Ready, reason, revision and age; the
    counters of pending approvals, drifted and failing objects count what the namespace filter shows
    (the kind and state filters narrow the table only, so a counter links to its own filter)."""
    kind = kind if kind in ov.KINDS else None
    state = state if state in ov.STATES else None
    namespace, notes = _filter_namespace(namespace)
    invalid = bool(notes)
    objects, list_notes, targets = _list_kinds(viewer, namespace) if not invalid else ([], [], [])
    notes += list_notes
    rows = ov.rows_of(objects)
    namespaces = sorted({r.namespace for r in rows} | ({namespace} if namespace else set()))
    context = {
        "title": "Overview", "rows": [r for r in rows if ov.matches(r, None, kind, state)],
        "counters": ov.count(rows), "notes": notes, "namespaces": namespaces, "kinds": ov.KINDS,
        "states": ov.STATES, "filters": {"namespace": namespace or "", "kind": kind or "", "state": state or ""},
    }
    return Page("overview.html", context, targets)


# ---- Terraform ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanPart:
    """The pending plan: its status summary, and the readable diff when the viewer may read it."""

    plan: PendingPlan
    awaiting_approval: bool  # a person's approval is what it waits for (api/approvable.py)
    why_not: str = ""  # else why not: the Approve button is disabled with this reason
    view: dict[str, Any] | None = None
    lines: list[DiffLine] = field(default_factory=list)
    note: str = ""


def _plan(viewer: Viewer, obj: Mapping[str, Any]) -> PlanPart | None:
    plan = PendingPlan.of(obj.get("status"))
    if not plan:
        return None
    meta = obj["metadata"]
    ns, name = str(meta.get("namespace") or ""), str(meta["name"])
    workspace = str((obj.get("spec") or {}).get("workspace") or "default")
    case = approvability(obj)  # the one rule of who waits for an approval (api/approvable.py)
    try:
        view = load_plan_view(viewer.client, ns, name, workspace, plan.id)
    except Forbidden as exc:
        note = (_refusal("read the readable plan (get secrets)", ns, exc)
                + " The counts above come from the object's status; ask for read access to the "
                  "namespace's Secrets to review the changes.")
    except PlanViewNotFoundError:
        note = (f"No readable form of plan {plan.id} is stored (it is being replaced, or was planned by a "
                "controller before this version).")
    except ValueError:
        note = (f"The readable form of plan {plan.id} cannot be read (Secret "
                f"{tfplanview_secret_name(workspace, name)} is damaged): plan again to store a new one.")
    else:
        return PlanPart(plan, case.awaiting, case.why_not, view, diff_lines(view))
    return PlanPart(plan, case.awaiting, case.why_not, note=note)


@dataclass(frozen=True)
class RunLog:
    pods: list[RunPod]
    headers: list[str]
    lines: list[str]
    truncated: bool
    note: str = ""


def _run_log(viewer: Viewer, obj: Mapping[str, Any]) -> RunLog | None:
    """The latest run's log from its runner Pods (the run in flight, else the newest; the last LOG_LINES
    lines in all), None when no runner Pod is there (local mode, or removed after a successful run)."""
    meta = obj["metadata"]
    ns, name = str(meta.get("namespace") or ""), str(meta["name"])
    try:
        items, _ = viewer.client.list_all(PODS, ns, label_selector=f"{LABEL_TERRAFORM}={name}")
    except Forbidden as exc:
        return RunLog([], [], [], False, _refusal("list pods (the runner Pods' logs)", ns, exc))
    chosen = choose([RunPod.of(p) for p in items], in_flight=in_flight_pods(obj.get("status")))
    if not chosen:
        return None
    lines: list[str] = []
    notes: list[str] = []
    for pod in chosen:
        if len(chosen) > 1:
            lines.append(header(pod))
        try:
            lines.extend(viewer.client.pod_log(ns, pod.name, container=RUNNER_CONTAINER, tail_lines=LOG_LINES))
        except Forbidden as exc:
            notes.append(_refusal(f"read the log of pod {pod.name} (get pods/log)", ns, exc))
        except NotFound:
            notes.append(f"Pod {pod.name} is gone (removed after its run).")
        except ApiError as exc:
            notes.append(f"Pod {pod.name}: {exc.message}")
    return RunLog(chosen, [header(p) for p in chosen], lines[-LOG_LINES:], len(lines) > LOG_LINES, " ".join(notes))


def _outputs(status: Mapping[str, Any]) -> list[tuple[str, bool]]:
    """(name, sensitive) of each output: names only, never values (design.md §4.7)."""
    names, sensitive = status.get("availableOutputs"), status.get("sensitiveOutputs")
    hidden = {str(n) for n in sensitive} if isinstance(sensitive, list) else set()
    return [(str(n), str(n) in hidden) for n in names] if isinstance(names, list) else []


def terraform(viewer: Viewer, namespace: str, name: str) -> Page:
    obj = _get(viewer, TERRAFORMS, namespace, name)
    status = obj.get("status") or {}
    context = _common(viewer, TERRAFORMS, obj)
    history: list[HistoryEntry] = history_of(status)
    context.update({
        "plan": _plan(viewer, obj), "drift": DriftReport.of(obj), "outputs": _outputs(status),
        "history": history, "run_log": _run_log(viewer, obj), "source": _source_link(obj),
        "approve_mode": approve_mode(obj.get("spec") or {}),
        "last_applied_plan": str(status.get("lastAppliedPlan") or ""),
        "policy": _policy(status),
    })
    return Page("terraform.html", context, _object_watch(TERRAFORMS, context))


def approve_mode(spec: Mapping[str, Any]) -> str:
    """The page's "approval:" fact: `plan only` for spec.planOnly (no plan is ever applied, whatever
    approvePlan says), else `auto`, the plan id spec.approvePlan names, or `manual`."""
    if spec.get("planOnly") is True:
        return "plan only (never applied)"
    return str(spec.get("approvePlan") or "") or "manual"


@dataclass(frozen=True)
class PolicyPart:
    """Issue 18: the pending plan's policy check (status.plan.policy), shown beside the plan."""

    result: str
    evaluated_at: str
    rows: list[Mapping[str, Any]]
    blocked: str  # why neither auto nor an approval applies the plan ("" when nothing blocks it)
    exceptions: list[str]


def _policy(status: Mapping[str, Any]) -> PolicyPart | None:
    recorded = policy_of(status)
    if recorded is None:
        return None
    v = verdict(recorded, PendingPlan.of(status).id)
    return PolicyPart(str(recorded.get("result") or ""), str(recorded.get("evaluatedAt") or ""),
                      result_rows(recorded), v.message if v.blocked else "", exceptions_of(recorded))


def _source_link(obj: Mapping[str, Any]) -> dict[str, str] | None:
    ref = (obj.get("spec") or {}).get("sourceRef")
    if not isinstance(ref, Mapping) or not ref.get("name"):
        return None
    ns = str(ref.get("namespace") or (obj.get("metadata") or {}).get("namespace") or "")
    return {"kind": str(ref.get("kind") or "GitRepository"), "namespace": ns, "name": str(ref["name"]),
            "href": f"/gitrepository/{ns}/{ref['name']}"}


# ---- ManifestSet -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InventoryRow:
    id: str
    kind: str
    namespace: str
    name: str
    api_version: str
    health: str  # Current | InProgress | Failed | Missing | Unknown
    message: str


def _health(viewer: Viewer, entry: InventoryEntry) -> tuple[str, str]:
    """(health, message) of one applied object, read as the viewer (kstatus rules of manifests/health.py)."""
    try:
        checked(entry.namespace or "cluster-scoped", entry.name)
    except NotFound:
        return "Unknown", "not a valid object name (a hand-edited inventory?)"
    try:
        resource = viewer.client.resource_for(entry.api_version, entry.kind)
        live = viewer.client.get_or_none(resource, entry.name, entry.namespace or None)
    except Forbidden:
        return "Unknown", "you may not read this object"
    except ApiError as exc:
        return "Unknown", exc.message
    if live is None:
        return "Missing", "not found in the cluster"
    live.setdefault("kind", entry.kind)
    result = assess(live)
    return result.status.value, result.message


def inventory_rows(viewer: Viewer, entries: list[InventoryEntry], limit: int) -> list[InventoryRow]:
    return [InventoryRow(e.id, e.kind, e.namespace, e.name, e.api_version, *_health(viewer, e))
            for e in entries[:limit]]


def manifestset(viewer: Viewer, namespace: str, name: str) -> Page:
    obj = _get(viewer, MANIFESTSETS, namespace, name)
    status = obj.get("status") or {}
    entries = graphs.inventory_of(status)
    context = _common(viewer, MANIFESTSETS, obj)
    context.update({
        "inventory": inventory_rows(viewer, entries, INVENTORY_LIMIT), "inventory_total": len(entries),
        "inventory_limit": INVENTORY_LIMIT, "source": _source_link(obj),
        "depends_on": _depends_links(obj),
        "last_applied_revision": str(status.get("lastAppliedRevision") or ""),
    })
    return Page("manifestset.html", context, _object_watch(MANIFESTSETS, context))


def _depends_links(obj: Mapping[str, Any]) -> list[dict[str, str]]:
    ns = str((obj.get("metadata") or {}).get("namespace") or "")
    out = []
    for dep in (obj.get("spec") or {}).get("dependsOn") or []:
        if isinstance(dep, Mapping) and dep.get("name"):
            kind = str(dep.get("kind") or "Terraform")
            dep_ns = str(dep.get("namespace") or ns)
            out.append({"kind": kind, "namespace": dep_ns, "name": str(dep["name"]),
                        "href": f"/{kind.lower()}/{dep_ns}/{dep['name']}"})
    return out


# ---- GitRepository -------------------------------------------------------------------------------------


def _users(viewer: Viewer, namespace: str, name: str) -> Part:
    """The Terraforms and ManifestSets whose sourceRef names this GitRepository (one LIST per kind: every
    namespace when the viewer may, else this one)."""
    users: list[dict[str, str]] = []
    notes: list[str] = []
    for resource in (TERRAFORMS, MANIFESTSETS):
        listed = _list_scope(viewer, resource, None)
        if listed.note:
            listed = _list_scope(viewer, resource, namespace)
        notes += [listed.note] if listed.note else []
        for item in listed.items:
            ref = _source_link(item)
            if ref and ref["kind"] == "GitRepository" and (ref["namespace"], ref["name"]) == (namespace, name):
                meta = item["metadata"]
                users.append({"kind": resource.kind, "namespace": meta["namespace"], "name": meta["name"],
                              "href": f"/{resource.kind.lower()}/{meta['namespace']}/{meta['name']}"})
    return Part(sorted(users, key=lambda u: (u["kind"], u["namespace"], u["name"])), " ".join(notes))


def gitrepository(viewer: Viewer, namespace: str, name: str) -> Page:
    obj = _get(viewer, GITREPOSITORIES, namespace, name)
    context = _common(viewer, GITREPOSITORIES, obj)
    spec = obj.get("spec") or {}
    context.update({
        "artifact": (obj.get("status") or {}).get("artifact") or {}, "url": str(spec.get("url") or ""),
        "ref": spec.get("ref") if isinstance(spec.get("ref"), Mapping) else {},
        "users": _users(viewer, namespace, name),
    })
    return Page("gitrepository.html", context, _object_watch(GITREPOSITORIES, context))


# ---- graph -------------------------------------------------------------------------------------------------


def graph(viewer: Viewer, namespace: str | None) -> Page:
    """GitRepository → Terraform → ManifestSet → Kubernetes objects, each node coloured by its state."""
    namespace, notes = _filter_namespace(namespace)
    invalid = bool(notes)
    objects, list_notes, targets = _list_kinds(viewer, namespace) if not invalid else ([], [], [])
    notes += list_notes
    health: dict[str, str] = {}
    budget = GRAPH_HEALTH_LIMIT
    for obj in sorted((o for o in objects if o.get("kind") == MANIFESTSETS.kind),
                      key=lambda o: (o["metadata"]["namespace"], o["metadata"]["name"])):
        entries = graphs.inventory_of(obj.get("status") or {})[:budget]
        budget -= len(entries)
        for row in inventory_rows(viewer, entries, len(entries)):
            health[row.id] = row.health
    drawn = graphs.build(objects, health)
    namespaces = sorted({str(o["metadata"].get("namespace") or "") for o in objects} |
                        ({namespace} if namespace else set()))
    context = {"title": "Dependency graph", "graph": drawn, "notes": notes, "namespaces": namespaces,
               "filters": {"namespace": namespace or ""}, "node_w": graphs.NODE_W, "node_h": graphs.NODE_H,
               "health_limited": budget <= 0}
    return Page("graph.html", context, targets)
