"""The delete verbs of the dev cluster: delete (preconditions, propagation policies), deletecollection,
finalizers (an object goes when they are emptied), namespace cleanup, CRD removal and the synchronous part
of garbage collection (dependents whose owners are all gone); gc.py's thread does the rest."""

from __future__ import annotations

from typing import Any

from tfcontroller.dev.cluster import errors
from tfcontroller.dev.cluster.api_base import (
    FOREGROUND,
    PROPAGATION_POLICIES,
    PROTECTED_NAMESPACES,
    is_crd,
    is_namespace,
)
from tfcontroller.dev.cluster.api_reads import ReadVerbs
from tfcontroller.dev.cluster.meta import now
from tfcontroller.dev.cluster.resources import ResourceInfo
from tfcontroller.dev.cluster.store import Obj


class DeleteVerbs(ReadVerbs):
    """delete and deletecollection, and the removals other writes end in (a finalizer emptied on a
    deleted object); built on the reads because deletecollection deletes what a list selects."""

    def delete(
        self,
        info: ResourceInfo,
        namespace: str | None,
        name: str,
        options: dict[str, Any] | None = None,
        dry_run: bool = False,
    ) -> Obj:
        options = options or {}
        with self.store.lock:
            obj = self.store.get(info.group, info.plural, self._ns_of(info, namespace), name)
            if obj is None:
                raise errors.not_found(info.group, info.plural, name)
            pre = options.get("preconditions") or {}
            if pre.get("uid") and pre["uid"] != obj["metadata"]["uid"]:
                raise errors.conflict(info.group, info.plural, name, f"Precondition failed: UID in precondition: {pre['uid']}, UID in object meta: {obj['metadata']['uid']}")
            if pre.get("resourceVersion") and pre["resourceVersion"] != obj["metadata"]["resourceVersion"]:
                raise errors.conflict(info.group, info.plural, name, f"Precondition failed: ResourceVersion in precondition: {pre['resourceVersion']}, ResourceVersion in object meta: {obj['metadata']['resourceVersion']}")
            if is_namespace(info) and name in PROTECTED_NAMESPACES:
                raise errors.forbidden(f'namespaces "{name}" is forbidden: this namespace may not be deleted', "", "namespaces", name)
            if dry_run:
                return self._out(info, obj)
            policy = options.get("propagationPolicy") or ("Orphan" if options.get("orphanDependents") else "Background")
            if policy not in PROPAGATION_POLICIES:
                supported = ", ".join(f'"{p}"' for p in PROPAGATION_POLICIES)
                raise errors.bad_request(f'propagationPolicy: Unsupported value: "{policy}": supported values: {supported}')
            if policy == "Orphan":
                self._orphan_dependents(obj["metadata"]["uid"])
            marked = self.graceful_delete(info, obj, options) if self.graceful_delete is not None else None
            if marked is not None:  # a running Pod: its kubelet stops it, then removes it
                return self._out(info, marked)
            deleted = self.delete_object(info, obj, policy)
        self.on_delete()
        return self._out(info, deleted)

    def delete_collection(
        self,
        info: ResourceInfo,
        namespace: str | None,
        label: str | None = None,
        field: str | None = None,
        options: dict[str, Any] | None = None,
        dry_run: bool = False,
    ) -> Obj:
        with self.store.lock:
            listed = self.list(info, namespace, label, field)
            deleted = [
                self.delete(info, o["metadata"].get("namespace"), o["metadata"]["name"], options, dry_run)
                for o in listed["items"]
            ]
        listed["items"] = deleted
        return listed

    def delete_object(self, info: ResourceInfo, obj: Obj, policy: str = "Background") -> Obj:
        """Start deleting a stored object with a propagation policy (Orphan must already have
        removed the references). Foreground marks it with the `foregroundDeletion` finalizer; the
        garbage collector removes that once no blocking dependent is left."""
        if policy == "Foreground" and not is_namespace(info) and not obj["metadata"].get("deletionTimestamp"):
            meta = obj["metadata"]
            finalizers = list(meta.get("finalizers") or [])
            if FOREGROUND not in finalizers:
                meta["finalizers"] = [*finalizers, FOREGROUND]
            meta["deletionTimestamp"] = now()
            meta["deletionGracePeriodSeconds"] = 0
            return self.store.put(info.group, info.plural, obj)
        return self._delete_obj(info, obj)

    def finish_foreground(self, info: ResourceInfo, owner: Obj) -> Obj:
        """Drop the `foregroundDeletion` finalizer; the owner goes if it was the last one."""
        meta = owner["metadata"]
        meta["finalizers"] = [f for f in meta.get("finalizers") or [] if f != FOREGROUND]
        if not meta["finalizers"]:
            meta.pop("finalizers")
            return self._remove(info, owner, final=owner)
        return self.store.put(info.group, info.plural, owner)

    def _delete_obj(self, info: ResourceInfo, obj: Obj) -> Obj:
        """Start deleting `obj`: mark it while finalizers remain, otherwise remove it (with cascades)."""
        meta = obj["metadata"]
        if is_namespace(info):
            return self._delete_namespace(obj)
        if meta.get("finalizers"):
            if meta.get("deletionTimestamp"):
                return obj
            meta["deletionTimestamp"] = now()
            meta["deletionGracePeriodSeconds"] = 0
            return self.store.put(info.group, info.plural, obj)
        return self._remove(info, obj)

    def _remove(self, info: ResourceInfo, obj: Obj, final: Obj | None = None) -> Obj:
        meta = obj["metadata"]
        ns = meta.get("namespace", "")
        removed = self.store.remove(info.group, info.plural, ns, meta["name"], final)
        if removed is None:
            return obj
        self.on_delete()  # a removal may unblock a foreground owner or leave references dangling
        if is_crd(info):
            self._drop_crd(removed)
        self._collect_garbage(meta["uid"])
        if ns:
            self._maybe_finish_namespace(ns)
        return removed

    def _drop_crd(self, crd: Obj) -> None:
        group, plural = crd["spec"]["group"], crd["spec"]["names"]["plural"]
        self.registry.remove(group, plural)
        for obj in self.store.list(group, plural):
            removed = self.store.remove(group, plural, obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
            if removed is not None:
                self._collect_garbage(removed["metadata"]["uid"])

    def _delete_namespace(self, ns_obj: Obj) -> Obj:
        name = ns_obj["metadata"]["name"]
        if not ns_obj["metadata"].get("deletionTimestamp"):
            ns_obj["metadata"]["deletionTimestamp"] = now()
            ns_obj["metadata"]["deletionGracePeriodSeconds"] = 0
            ns_obj.setdefault("status", {})["phase"] = "Terminating"
            ns_obj = self.store.put("", "namespaces", ns_obj)
        for group, plural in self.store.resource_keys():
            child_info = self._info(group, plural)
            if child_info is None or not child_info.namespaced:
                continue
            for child in self.store.list(group, plural, name):
                self._delete_obj(child_info, child)
        finished = self._maybe_finish_namespace(name)
        return finished if finished is not None else ns_obj

    def _maybe_finish_namespace(self, name: str) -> Obj | None:
        ns_obj = self.store.get("", "namespaces", "", name)
        if ns_obj is None or not ns_obj["metadata"].get("deletionTimestamp") or ns_obj["metadata"].get("finalizers"):
            return None
        for group, plural in self.store.resource_keys():
            if (group, plural) != ("", "namespaces") and self.store.list(group, plural, name):
                return None
        return self.store.remove("", "namespaces", "", name)

    def _dependents(self, uid: str) -> list[tuple[str, str, Obj]]:
        return self.store.owned_by(uid)

    def _collect_garbage(self, uid: str) -> None:
        """Delete dependents whose owners are all gone, as the garbage collector does in background mode."""
        for group, plural, dep in self._dependents(uid):
            refs = dep["metadata"].get("ownerReferences") or []
            if any(self.store.uid_exists(ref.get("uid", "")) for ref in refs):
                continue
            info = self._info(group, plural)
            current = self.store.get(group, plural, dep["metadata"].get("namespace", ""), dep["metadata"]["name"])
            if info is not None and current is not None:
                self._delete_obj(info, current)

    def _orphan_dependents(self, uid: str) -> None:
        for group, plural, dep in self._dependents(uid):
            refs = [r for r in dep["metadata"]["ownerReferences"] if r.get("uid") != uid]
            if refs:
                dep["metadata"]["ownerReferences"] = refs
            else:
                dep["metadata"].pop("ownerReferences")
            self.store.put(group, plural, dep)
