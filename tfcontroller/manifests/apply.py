"""Server-side apply of a rendered set of objects, as field manager `tfcontroller`.

Why server-side apply with `force=True` field ownership: the render is the source of truth, so fields
another writer (`kubectl edit`, `kubectl patch`) took over are taken back — this is what makes self-heal
work; fields we never set stay with whoever set them. Order: CRDs, then Namespaces, then the rest, and
kinds are looked up (discovery) only after the CRDs are in, so a CRD and its objects can ship together.
`spec.force` is a different thing: an object whose immutable fields changed (422 "field is immutable")
is deleted and created again; without it the apply fails with a message saying so.
Each failure names the object and the file it was rendered from.

A field Git no longer declares leaves the live object through server-side apply itself: the server
removes what our field manager applied before and omits now (unless another manager also owns it).
Before applying, fields that count as ours without being owned by our manager are made so
(ownership.py): `kubectl apply`'s ownership is adopted, and Secret keys an earlier version sent as
`stringData` and Git no longer declares are removed explicitly.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from tfcontroller.api.constants import FIELD_MANAGER
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.errors import ApiError, Forbidden, NotFound, Unprocessable
from tfcontroller.kube.resources import Resource
from tfcontroller.manifests.access import Refusal
from tfcontroller.manifests.access import refusals as access_refusals
from tfcontroller.manifests.diff import changed_paths
from tfcontroller.manifests.normalize import label_of, normalize, ordered
from tfcontroller.manifests.ownership import adopted_managed_fields, string_data_leftovers

log = logging.getLogger(__name__)

Action = Literal["created", "configured", "unchanged", "recreated"]


@dataclass(frozen=True)
class Manifest:
    """A rendered (and substituted) object and the file it came from."""

    obj: dict[str, Any]
    source: str


class ApplyError(Exception):
    """An object could not be applied. `cause` is one of: unknown-kind, immutable, forbidden, invalid,
    conflict, error — the controller words its condition from it."""

    def __init__(self, message: str, *, label: str, source: str, cause: str) -> None:
        super().__init__(message)
        self.label = label
        self.source = source
        self.cause = cause


@dataclass(frozen=True)
class Change:
    label: str
    action: Action
    fields: tuple[str, ...] = ()
    obj: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def describe(self) -> str:
        if self.action == "configured" and self.fields:
            return f"{self.label} configured ({', '.join(self.fields[:5])}{', ...' if len(self.fields) > 5 else ''})"
        return f"{self.label} {self.action}"


@dataclass
class ApplyOptions:
    default_namespace: str
    target_namespace: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    force_recreate: bool = False
    field_manager: str = FIELD_MANAGER
    delete_timeout: float = 30.0


def is_immutable_error(exc: ApiError) -> bool:
    texts = [exc.message, *(c.message for c in exc.causes)]
    return isinstance(exc, Unprocessable) and any("immutable" in t for t in texts)


class Applier:
    """Applies manifests through `kube` (an impersonating client when a service account is set)."""

    def __init__(self, kube: KubeClient, options: ApplyOptions, sleep: Callable[[float], None] = time.sleep) -> None:
        self.kube = kube
        self.options = options
        self._sleep = sleep

    def resource(self, manifest: Manifest) -> Resource:
        obj = manifest.obj
        try:
            return self.kube.resource_for(obj["apiVersion"], obj["kind"])
        except NotFound:
            raise ApplyError(
                f"{label_of(obj)} (from {manifest.source}): the cluster does not serve kind {obj['kind']} "
                f"in {obj['apiVersion']}; install its CustomResourceDefinition first",
                label=label_of(obj), source=manifest.source, cause="unknown-kind",
            ) from None
        except ApiError as exc:
            raise self._error(manifest, obj, exc) from None

    def prepare(self, manifest: Manifest) -> tuple[Resource, dict[str, Any]]:
        res = self.resource(manifest)
        opts = self.options
        obj = normalize(manifest.obj, namespaced=res.namespaced, default_namespace=opts.default_namespace,
                        target_namespace=opts.target_namespace, labels=opts.labels)
        return res, obj

    def apply_all(self, manifests: list[Manifest]) -> list[Change]:
        """Apply in stage order; stops at the first failure (raised as ApplyError)."""
        changes: list[Change] = []
        for m in ordered(manifests, lambda m: m.obj):
            changes.append(self.apply_one(m))
        return changes

    def applied_objects(self, manifests: list[Manifest]) -> list[dict[str, Any]]:
        """The normalised objects (namespace settled) without applying: for the inventory."""
        return [self.prepare(m)[1] for m in manifests]

    def refusals(self, manifests: list[Manifest]) -> list[Refusal]:
        """What RBAC would refuse this client's user among `manifests`, asked before any write
        (access.py); kinds not served yet are left to the apply."""
        checkable = []
        for m in manifests:
            try:
                res, obj = self.prepare(m)
            except ApplyError:
                continue
            checkable.append((res, obj, label_of(obj), m.source))
        return access_refusals(self.kube, checkable)

    def apply_one(self, manifest: Manifest) -> Change:
        res, obj = self.prepare(manifest)
        label = label_of(obj)
        live = self._get(manifest, res, obj)
        try:
            live = self._adopt_kubectl_fields(res, obj, live)
            self._drop_string_data_leftovers(manifest, res, obj, live)
            after = self.kube.apply(obj, field_manager=self.options.field_manager, force=True, resource=res)
        except ApiError as exc:
            if not is_immutable_error(exc):
                raise self._error(manifest, obj, exc) from None
            if not self.options.force_recreate:
                raise ApplyError(
                    f"{label} (from {manifest.source}): {exc.message}; set spec.force: true to recreate it",
                    label=label, source=manifest.source, cause="immutable",
                ) from None
            after = self._recreate(manifest, res, obj)
            log.info("recreated %s: immutable fields changed", label)
            return Change(label, "recreated", obj=after)
        if live is None:
            return Change(label, "created", obj=after)
        rv_before = (live.get("metadata") or {}).get("resourceVersion")
        if (after.get("metadata") or {}).get("resourceVersion") == rv_before:
            return Change(label, "unchanged", obj=after)
        paths = tuple(changed_paths(live, after))
        return Change(label, "configured" if paths else "unchanged", paths, obj=after)

    def _adopt_kubectl_fields(self, res: Resource, obj: dict[str, Any],
                              live: dict[str, Any] | None) -> dict[str, Any] | None:
        """Rewrite managedFields (JSON patch, guarded by the resourceVersion read) so that what `kubectl
        apply` set counts as applied by us; returns the live object after it."""
        adopted = adopted_managed_fields(live, self.options.field_manager) if live is not None else None
        if adopted is None or live is None:
            return live
        meta = obj["metadata"]
        ops = [{"op": "test", "path": "/metadata/resourceVersion", "value": live["metadata"]["resourceVersion"]},
               {"op": "replace", "path": "/metadata/managedFields", "value": adopted}]
        after = self.kube.patch(res, meta["name"], ops, meta.get("namespace"), patch_type="json",
                                field_manager=self.options.field_manager)
        log.info("%s: took over the fields kubectl apply set", label_of(obj))
        return after

    def _drop_string_data_leftovers(self, manifest: Manifest, res: Resource, obj: dict[str, Any],
                                    live: dict[str, Any] | None) -> None:
        """Remove (JSON patch, each key guarded by a `test` of its live value) the Secret keys that
        `string_data_leftovers` finds; done before the apply, whose managedFields forget `stringData`."""
        keys = string_data_leftovers(live, obj, self.options.field_manager)
        if not keys or live is None:
            return
        ops: list[dict[str, Any]] = []
        for key in keys:
            path = "/data/" + key.replace("~", "~0").replace("/", "~1")
            ops += [{"op": "test", "path": path, "value": live["data"][key]}, {"op": "remove", "path": path}]
        meta = obj["metadata"]
        self.kube.patch(res, meta["name"], ops, meta.get("namespace"), patch_type="json",
                        field_manager=self.options.field_manager)  # an immutable Secret: 422, recreated with force
        log.info("%s: removed data keys %s, no longer in Git (applied as stringData before)", label_of(obj),
                 ", ".join(keys))

    def _get(self, manifest: Manifest, res: Resource, obj: dict[str, Any]) -> dict[str, Any] | None:
        meta = obj["metadata"]
        try:
            return self.kube.get_or_none(res, meta["name"], meta.get("namespace"))
        except ApiError as exc:
            raise self._error(manifest, obj, exc) from None

    def _recreate(self, manifest: Manifest, res: Resource, obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj["metadata"]
        name, ns = meta["name"], meta.get("namespace")
        try:
            self.kube.delete(res, name, ns, propagation_policy="Background")
            deadline = time.monotonic() + self.options.delete_timeout
            while self.kube.get_or_none(res, name, ns) is not None:
                if time.monotonic() > deadline:
                    raise ApplyError(
                        f"{label_of(obj)} (from {manifest.source}): still being deleted after "
                        f"{self.options.delete_timeout:.0f}s (finalizers?); it will be created again once gone",
                        label=label_of(obj), source=manifest.source, cause="error",
                    )
                self._sleep(0.1)
            return self.kube.apply(obj, field_manager=self.options.field_manager, force=True, resource=res)
        except ApiError as exc:
            raise self._error(manifest, obj, exc) from None

    @staticmethod
    def _error(manifest: Manifest, obj: dict[str, Any], exc: ApiError) -> ApplyError:
        cause = "error"
        if isinstance(exc, Forbidden):
            cause = "forbidden"
        elif isinstance(exc, Unprocessable):
            cause = "invalid"
        elif exc.status == 409:
            cause = "conflict"
        elif isinstance(exc, NotFound):
            cause = "not-found"
        label = label_of(obj)
        return ApplyError(f"{label} (from {manifest.source}): {exc.message or exc}", label=label,
                          source=manifest.source, cause=cause)

