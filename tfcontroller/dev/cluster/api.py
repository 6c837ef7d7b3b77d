"""The API verbs with kube-apiserver semantics, one method per verb, independent of HTTP.

Every write runs under the store lock so that read-check-write sequences (AlreadyExists, stale
resourceVersion, finalizers, cascades) are atomic. What the real server does in controllers
(namespace cleanup, background-propagation cascades, CRD establishment) happens synchronously inside
the write that triggers it; the rest of garbage collection (dangling references, foreground deletion)
is the background thread of gc.py. docs/dev-cluster.md lists the consequences.
"""

from __future__ import annotations

import base64
import copy
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from tfcontroller.dev.cluster import builtin, crds, errors, fieldvalidation, immutable, listing
from tfcontroller.dev.cluster.errors import ApiError
from tfcontroller.dev.cluster.fieldvalidation import FieldValidation
from tfcontroller.dev.cluster.meta import (
    generated_name,
    metadata_problems,
    name_problems,
    now,
    spec_part,
    without_volatile,
)
from tfcontroller.dev.cluster.resources import Registry, ResourceInfo
from tfcontroller.dev.cluster.selectors import Predicate, field_selector, label_selector
from tfcontroller.dev.cluster.store import Event, Obj, Store

PROTECTED_NAMESPACES = ("default", "kube-system", "kube-public")
FOREGROUND = "foregroundDeletion"  # the finalizer of an owner waiting for its blocking dependents
PROPAGATION_POLICIES = ("Orphan", "Background", "Foreground")
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"


def _key(obj: Obj) -> tuple[str, str]:
    return obj["metadata"].get("namespace", ""), obj["metadata"]["name"]


def _is_namespace(info: ResourceInfo) -> bool:
    return info.group == "" and info.plural == "namespaces"


def _is_crd(info: ResourceInfo) -> bool:
    return info.group == crds.CRD_GROUP and info.plural == crds.CRD_PLURAL


class Api:
    def __init__(self, store: Store, registry: Registry) -> None:
        self.store = store
        self.registry = registry
        # Called after delete requests and removals, so that the garbage collector (gc.py) sweeps at once.
        self.on_delete: Callable[[], None] = lambda: None
        # How long a list for a resourceVersion the store has not reached waits before its 504.
        self.too_large_wait = 3.0

    # ------------------------------------------------------------------ helpers
    def _out(self, info: ResourceInfo, obj: Obj) -> Obj:
        """The object as seen through the requested version."""
        obj["apiVersion"] = info.api_version
        obj["kind"] = info.kind
        return obj

    def _qualified_kind(self, info: ResourceInfo) -> tuple[str, str]:
        return info.group, info.kind

    def _invalid(self, info: ResourceInfo, name: str, causes: list[tuple[str, str]],
                 reasons: list[str] | None = None) -> ApiError:
        return errors.invalid(info.group, info.kind, name, causes, reasons)

    def _ns_of(self, info: ResourceInfo, namespace: str | None) -> str:
        return (namespace or "") if info.namespaced else ""

    def _require_namespace(self, info: ResourceInfo, namespace: str, name: str) -> None:
        if not info.namespaced:
            return
        ns = self.store.get("", "namespaces", "", namespace)
        if ns is None:
            raise errors.not_found("", "namespaces", namespace)
        if ns["metadata"].get("deletionTimestamp"):
            raise errors.forbidden(
                f'{info.plural} "{name}" is forbidden: unable to create new content in namespace {namespace} '
                "because it is being terminated",
                info.group,
                info.plural,
                name,
            )

    def _prepare(self, info: ResourceInfo, obj: Obj, old: Obj | None, fv: FieldValidation | None = None) -> None:
        """Unknown fields (dropped; 400 or warnings as `fv` says), then kind-specific defaulting and
        validation; raises 422 on invalid objects."""
        unknown = fieldvalidation.metadata_unknown_fields(obj)
        builtin_problems: list[tuple[str, str, str]] = []
        if info.schema is not None:
            unknown += self._prune(info, obj)
        else:
            report = builtin.check(info.group, info.version, info.kind, obj, prune=True)
            if report is not None:
                unknown += report.unknown
                builtin_problems = report.invalid
        if fv is not None:
            fv.report(obj, unknown)
        meta = obj["metadata"]
        problems = [("metadata.name", f'Invalid value: "{meta["name"]}": {p}') for p in name_problems(info, meta["name"])]
        problems += metadata_problems(meta)
        problems += immutable.problems(info.group, info.kind, obj, old)
        reasons = ["FieldValueInvalid"] * len(problems)
        problems += [(f, m) for f, m, _ in builtin_problems]
        reasons += [r for _, _, r in builtin_problems]
        if info.group == "" and info.plural == "secrets":
            self._fold_string_data(obj, problems)
        elif _is_namespace(info):
            meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
            obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
            obj.setdefault("status", {})["phase"] = "Terminating" if meta.get("deletionTimestamp") else "Active"
        elif _is_crd(info):
            problems += crds.crd_problems(obj)
            if not problems:
                obj["status"] = crds.established_status(obj)
        if problems:
            reasons += ["FieldValueInvalid"] * (len(problems) - len(reasons))  # kind-specific ones above
            raise self._invalid(info, meta["name"], problems, reasons)
        if info.schema is not None:
            self._apply_schema(info, obj)

    @staticmethod
    def _fold_string_data(obj: Obj, problems: list[tuple[str, str]]) -> None:
        string_data = obj.pop("stringData", None) or {}
        data = obj.get("data") or {}
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()
        for key, value in data.items():
            try:
                base64.b64decode(value, validate=True)
            except (ValueError, TypeError):
                problems.append((f"data[{key}]", "Invalid value: illegal base64 data"))
        if data:
            obj["data"] = data
        obj.setdefault("type", "Opaque")

    @staticmethod
    def _prune(info: ResourceInfo, obj: Obj) -> list[str]:
        """Prune and default in place before validation, as decoding does; the dropped field paths."""
        from tfcontroller.dev.cluster import schema as schema_mod

        assert info.schema is not None
        result = schema_mod.prune_and_default(obj, info.schema)
        obj.clear()
        obj.update(result.obj)
        return result.pruned

    def _apply_schema(self, info: ResourceInfo, obj: Obj) -> None:
        from tfcontroller.dev.cluster import schema as schema_mod

        try:
            result = schema_mod.apply_schema(obj, info.schema)
        except schema_mod.SchemaValidationError as exc:
            status = exc.to_status()
            raise ApiError(422, "Invalid", status["message"], status["details"]) from None
        obj.clear()
        obj.update(result)

    # ------------------------------------------------------------------ reads
    def get(self, info: ResourceInfo, namespace: str | None, name: str) -> Obj:
        obj = self.store.get(info.group, info.plural, self._ns_of(info, namespace), name)
        if obj is None:
            raise errors.not_found(info.group, info.plural, name)
        return self._out(info, obj)

    def list(
        self,
        info: ResourceInfo,
        namespace: str | None,
        label: str | None = None,
        field: str | None = None,
        limit: int = 0,
        continue_token: str | None = None,
        resource_version: str | None = None,
        resource_version_match: str | None = None,
    ) -> Obj:
        """A list with the real server's resourceVersion/limit/continue semantics (listing.py)."""
        plan = listing.plan(resource_version, resource_version_match, limit, continue_token)
        match = self._matcher(label, field)
        ns = namespace or None
        with self.store.changed:
            if plan.at_least > self.store.rv:  # a version not reached yet: wait a little, like the cache
                self.store.changed.wait_for(lambda: self.store.rv >= plan.at_least, self.too_large_wait)
                if plan.at_least > self.store.rv:
                    raise listing.too_large(plan.at_least, self.store.rv)
            if plan.exact is None:
                rv = self.store.rv
                objects = self.store.list(info.group, info.plural, ns)
            else:
                rv = plan.exact
                snapshot = self.store.list_at(info.group, info.plural, ns, plan.exact)
                if snapshot is None:
                    if plan.after is None:
                        raise errors.gone(listing.EXPIRED_LIST)
                    left = any(_key(o) > plan.after for o in self.store.list(info.group, info.plural, ns))
                    raise listing.expired_continue(plan.after, left)
                objects = snapshot
        items = [o for o in objects if match(o)]
        if plan.after is not None:
            items = [o for o in items if _key(o) > plan.after]
        list_meta: dict[str, Any] = {"resourceVersion": str(rv)}
        if limit and len(items) > limit:
            remaining = len(items) - limit
            items = items[:limit]
            list_meta["continue"] = listing.ContinueToken(_key(items[-1]), rv).encode()
            list_meta["remainingItemCount"] = remaining
        return {
            "kind": info.list_kind,
            "apiVersion": info.api_version,
            "metadata": list_meta,
            "items": [self._out(info, o) for o in items],
        }

    @staticmethod
    def _matcher(label: str | None, field: str | None) -> Predicate:
        by_label, by_field = label_selector(label), field_selector(field)
        return lambda o: by_label(o) and by_field(o)

    # ------------------------------------------------------------------ create
    def create(
        self,
        info: ResourceInfo,
        namespace: str | None,
        body: Obj,
        dry_run: bool = False,
        manager: str | None = None,
        fv: FieldValidation | None = None,
    ) -> Obj:
        if not isinstance(body, dict):
            raise errors.bad_request("the body of the request is not a JSON object")
        obj = copy.deepcopy(body)
        self._check_type(info, obj)
        self._check_decodes(info, obj)
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise errors.bad_request("metadata must be an object")
        ns = self._ns_of(info, namespace)
        if info.namespaced:
            if meta.get("namespace") and meta["namespace"] != ns:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            meta["namespace"] = ns
        else:
            meta.pop("namespace", None)
        with self.store.lock:
            if not meta.get("name"):
                if meta.get("generateName"):
                    meta["name"] = generated_name(meta["generateName"])
                else:
                    raise self._invalid(info, "", [("metadata.name", "Required value: name or generateName is required")])
            self._require_namespace(info, ns, meta["name"])
            if self.store.get(info.group, info.plural, ns, meta["name"]) is not None:
                raise errors.already_exists(info.group, info.plural, meta["name"])
            for key in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds"):
                meta.pop(key, None)
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = now()
            meta["generation"] = 1
            if info.has_status and not _is_namespace(info):
                obj.pop("status", None)  # the status subresource owns status; create resets it
            self._out(info, obj)
            self._prepare(info, obj, None, fv)
            if manager:
                obj = self._managed(None, obj, manager, None)
            if dry_run:
                return obj
            stored = self.store.put(info.group, info.plural, obj)
            self._after_write(info, stored)
            return self._out(info, stored)

    @staticmethod
    def _check_decodes(info: ResourceInfo, obj: Obj) -> None:
        """A create/update body of a built-in kind must decode into its Go type: the real server's 400."""
        report = builtin.check(info.group, info.version, info.kind, obj)
        if report is not None and report.types:
            raise errors.bad_request(f'{info.kind} in version "{info.version}" cannot be handled as a '
                                     f"{info.kind}: {report.types[0].decode_message()}")

    @staticmethod
    def _check_patched(info: ResourceInfo, content_type: str, patch_body: Any, patched: Obj) -> None:
        """A patched built-in object must decode into its Go type; the real server answers 422 with an
        empty kind and name, the patched JSON (or, for a strategic merge patch, the patch map as Go prints
        it) as the invalid value, and the decoder's error."""
        report = builtin.check(info.group, info.version, info.kind, patched)
        if report is None or not report.types:
            return
        issue = report.types[0]
        if content_type == STRATEGIC_PATCH:
            shown, detail = builtin.go_v(patch_body), builtin.unstructured_message(issue)
        else:
            shown, detail = json.dumps(patched, separators=(",", ":")), issue.decode_message()
        message = f"Invalid value: {json.dumps(shown)}: {detail}"
        raise ApiError(422, "Invalid", f' "" is invalid: patch: {message}',
                       {"causes": [{"reason": "FieldValueInvalid", "message": message, "field": "patch"}]})

    def _check_type(self, info: ResourceInfo, obj: Obj) -> None:
        kind, api_version = obj.get("kind"), obj.get("apiVersion")
        if kind and kind != info.kind:
            raise errors.bad_request(f"the kind {kind!r} of the object does not match the URL ({info.kind})")
        if api_version and api_version.split("/")[0] != (info.group or "v1") and api_version != info.api_version:
            raise errors.bad_request(f"the API version {api_version!r} of the object does not match the URL")

    def _after_write(self, info: ResourceInfo, stored: Obj) -> None:
        if _is_crd(info):
            group = stored["spec"]["group"]
            plural = stored["spec"]["names"]["plural"]
            self.registry.remove(group, plural)
            for served in crds.resource_infos(stored):
                self.registry.add(served)

    # ------------------------------------------------------------------ update / patch
    def update(
        self,
        info: ResourceInfo,
        namespace: str | None,
        name: str,
        body: Obj,
        subresource: str | None = None,
        dry_run: bool = False,
        manager: str | None = None,
        fv: FieldValidation | None = None,
    ) -> Obj:
        if not isinstance(body, dict):
            raise errors.bad_request("the body of the request is not a JSON object")
        self._check_type(info, body)
        self._check_decodes(info, body)
        body_name = (body.get("metadata") or {}).get("name")
        if body_name and body_name != name:
            raise errors.bad_request(f"the name of the object ({body_name}) does not match the name on the URL ({name})")
        with self.store.lock:
            old = self.store.get(info.group, info.plural, self._ns_of(info, namespace), name)
            if old is None:
                raise errors.not_found(info.group, info.plural, name)
            wanted_rv = (body.get("metadata") or {}).get("resourceVersion")
            if wanted_rv and wanted_rv != old["metadata"]["resourceVersion"]:
                raise errors.conflict(info.group, info.plural, name, errors.STALE)
            return self._replace(info, old, copy.deepcopy(body), subresource, dry_run, manager, fv)

    def patch(
        self,
        info: ResourceInfo,
        namespace: str | None,
        name: str,
        content_type: str,
        raw: bytes,
        subresource: str | None = None,
        field_manager: str | None = None,
        force: bool = False,
        dry_run: bool = False,
        fv: FieldValidation | None = None,
    ) -> tuple[int, Obj]:
        from tfcontroller.dev.cluster import patch as patch_mod

        if fv is not None:
            fv.style = fieldvalidation.APPLY if content_type == APPLY_PATCH else fieldvalidation.PATCH

        ns = self._ns_of(info, namespace)
        body = self._decode_patch(content_type, raw)
        with self.store.lock:
            old = self.store.get(info.group, info.plural, ns, name)
            if content_type == APPLY_PATCH:
                return self._apply(info, namespace, name, old, body, subresource, field_manager, force, dry_run, fv)
            if old is None:
                raise errors.not_found(info.group, info.plural, name)
            current = self._out(info, copy.deepcopy(old))
            try:
                if content_type == MERGE_PATCH:
                    new = patch_mod.json_merge_patch(current, self._patch_object(body))
                elif content_type == JSON_PATCH:
                    if not isinstance(body, list):
                        raise errors.bad_request("a JSON patch must be a list of operations")
                    new = patch_mod.json_patch(current, body)
                elif content_type == STRATEGIC_PATCH:
                    if self._is_custom(info):
                        raise ApiError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format - accepted media types include: {JSON_PATCH}, {MERGE_PATCH}, {APPLY_PATCH}")
                    new = patch_mod.strategic_merge_patch(current, self._patch_object(body), info.kind)
                else:
                    raise errors.unsupported_media_type(content_type)
            except patch_mod.PatchError as exc:
                raise self._invalid(info, name, [("", f"the server rejected our request due to an error in our request: {exc}")]) from None
            if not isinstance(new, dict):
                raise errors.bad_request("the patch did not produce an object")
            self._check_patched(info, content_type, body, new)
            wanted_rv = (new.get("metadata") or {}).get("resourceVersion")
            if wanted_rv and wanted_rv != old["metadata"]["resourceVersion"]:
                raise errors.conflict(info.group, info.plural, name, errors.STALE)
            return 200, self._replace(info, old, new, subresource, dry_run, field_manager, fv)

    def _is_custom(self, info: ResourceInfo) -> bool:
        return self.store.get(crds.CRD_GROUP, crds.CRD_PLURAL, "", f"{info.plural}.{info.group}") is not None

    @staticmethod
    def _patch_object(body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise errors.bad_request("the patch must be a JSON object")
        return body

    @staticmethod
    def _decode_patch(content_type: str, raw: bytes) -> Any:
        try:
            if content_type == APPLY_PATCH:
                import yaml

                return yaml.safe_load(raw.decode() or "{}")
            return json.loads(raw.decode() or "null")
        except Exception as exc:  # YAML or JSON syntax errors: the client sent garbage
            raise errors.bad_request(f"error decoding patch: {exc}") from None

    def _apply(
        self,
        info: ResourceInfo,
        namespace: str | None,
        name: str,
        old: Obj | None,
        applied: Any,
        subresource: str | None,
        field_manager: str | None,
        force: bool,
        dry_run: bool,
        fv: FieldValidation | None = None,
    ) -> tuple[int, Obj]:
        from tfcontroller.dev.cluster import patch as patch_mod
        from tfcontroller.dev.cluster import schema as schema_mod

        if not field_manager:
            raise errors.bad_request("PATCH /apply requests require a fieldManager")
        if not isinstance(applied, dict):
            raise errors.bad_request("the applied configuration must be an object")
        applied_name = (applied.get("metadata") or {}).get("name")
        if applied_name and applied_name != name:
            raise errors.bad_request(f"the name of the object ({applied_name}) does not match the name on the URL ({name})")
        applied.setdefault("metadata", {})["name"] = name
        # Unknown fields are typed out of the applied configuration (never owned by its manager).
        unknown = fieldvalidation.metadata_unknown_fields(applied)
        typing_errors: list[str] = []
        if info.schema is not None:
            pruned = schema_mod.prune_and_default(applied, info.schema, defaults=False)
            applied, unknown = pruned.obj, unknown + pruned.pruned
        else:
            report = builtin.check(info.group, info.version, info.kind, applied, prune=True)
            if report is not None:
                unknown += report.unknown
                typing_errors = [m for m in (t.apply_message() for t in report.types) if m]
        where = {**self._out(info, copy.deepcopy(applied)),
                 "metadata": {"namespace": self._ns_of(info, namespace), "name": name}}
        if typing_errors:
            raise fieldvalidation.typed_patch_error(where, typing_errors)
        if fv is not None:
            fv.report(where, unknown)
        live = self._out(info, copy.deepcopy(old)) if old is not None else None
        try:
            new = patch_mod.server_side_apply(live, applied, field_manager, force)
        except patch_mod.ApplyConflictError as exc:
            conflicts = list(exc.conflicts)
            plural = "conflict" if len(conflicts) == 1 else "conflicts"
            raise ApiError(
                409,
                "Conflict",
                f"Apply failed with {len(conflicts)} {plural}: " + "; ".join(conflicts),
                {"causes": [{"reason": "FieldManagerConflict", "message": c, "field": ""} for c in conflicts]},
            ) from None
        except patch_mod.PatchError as exc:
            raise self._invalid(info, name, [("", str(exc))]) from None
        if old is None:
            if subresource:
                raise errors.not_found(info.group, info.plural, name)
            return 201, self.create(info, namespace, new, dry_run, fv=fv)
        return 200, self._replace(info, old, new, subresource, dry_run, fv=fv)

    @staticmethod
    def _managed(old: Obj | None, new: Obj, manager: str, subresource: str | None) -> Obj:
        """Record a non-apply write in managedFields (operation Update), so that later server-side
        applies see who set what."""
        from tfcontroller.dev.cluster import patch as patch_mod

        return patch_mod.update_managed_fields(old, new, manager, "Update", subresource or "")

    def _replace(
        self,
        info: ResourceInfo,
        old: Obj,
        new: Obj,
        subresource: str | None,
        dry_run: bool,
        manager: str | None = None,
        fv: FieldValidation | None = None,
    ) -> Obj:
        """Shared tail of update and patch: keep server-owned fields, split status, bump generation."""
        old_meta = old["metadata"]
        if subresource == "status":
            status = new.get("status")
            new = copy.deepcopy(old)
            if status is None:
                new.pop("status", None)
            else:
                new["status"] = status
        elif subresource:
            raise errors.path_not_found(subresource)
        elif info.has_status:
            if "status" in old:
                new["status"] = copy.deepcopy(old["status"])
            else:
                new.pop("status", None)
        meta = new.setdefault("metadata", {})
        for key in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "namespace", "name"):
            if key in old_meta:
                meta[key] = old_meta[key]
            else:
                meta.pop(key, None)
        if "managedFields" not in meta and "managedFields" in old_meta:
            meta["managedFields"] = old_meta["managedFields"]
        meta["generation"] = old_meta.get("generation", 1)
        if spec_part(new) != spec_part(old):
            meta["generation"] += 1
        if old_meta.get("deletionTimestamp"):
            added = set(meta.get("finalizers") or []) - set(old_meta.get("finalizers") or [])
            if added:
                raise self._invalid(info, old_meta["name"], [("metadata.finalizers", "Forbidden: no new finalizers can be added if the object is being deleted")])
        self._out(info, new)
        self._prepare(info, new, old, fv)
        if manager:
            new = self._managed(self._out(info, copy.deepcopy(old)), new, manager, subresource)
            meta = new["metadata"]
        meta["resourceVersion"] = old_meta["resourceVersion"]
        if without_volatile(new) == without_volatile(self._out(info, copy.deepcopy(old))):
            return self._out(info, copy.deepcopy(old))  # no-op write: no new resourceVersion, no event
        if dry_run:
            return new
        if old_meta.get("deletionTimestamp") and not meta.get("finalizers"):
            removed = self._remove(info, new, final=new)
            return self._out(info, removed)
        stored = self.store.put(info.group, info.plural, new)
        self._after_write(info, stored)
        return self._out(info, stored)

    # ------------------------------------------------------------------ delete
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
            if _is_namespace(info) and name in PROTECTED_NAMESPACES:
                raise errors.forbidden(f'namespaces "{name}" is forbidden: this namespace may not be deleted', "", "namespaces", name)
            if dry_run:
                return self._out(info, obj)
            policy = options.get("propagationPolicy") or ("Orphan" if options.get("orphanDependents") else "Background")
            if policy not in PROPAGATION_POLICIES:
                supported = ", ".join(f'"{p}"' for p in PROPAGATION_POLICIES)
                raise errors.bad_request(f'propagationPolicy: Unsupported value: "{policy}": supported values: {supported}')
            if policy == "Orphan":
                self._orphan_dependents(obj["metadata"]["uid"])
            deleted = self.delete_object(info, obj, policy)
        self.on_delete()
        return self._out(info, deleted)

    def delete_object(self, info: ResourceInfo, obj: Obj, policy: str = "Background") -> Obj:
        """Start deleting a stored object with a propagation policy (Orphan must already have
        removed the references). Foreground marks it with the `foregroundDeletion` finalizer; the
        garbage collector removes that once no blocking dependent is left."""
        if policy == "Foreground" and not _is_namespace(info) and not obj["metadata"].get("deletionTimestamp"):
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
        if _is_namespace(info):
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
        if _is_crd(info):
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

    def _info(self, group: str, plural: str) -> ResourceInfo | None:
        versions = self.registry.versions_of(group, plural)
        return versions[0] if versions else None

    def info_for(self, group: str, plural: str) -> ResourceInfo | None:
        """A served version of a stored resource (None once its CRD is gone)."""
        return self._info(group, plural)

    # ------------------------------------------------------------------ garbage collection
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

    # ------------------------------------------------------------------ watch
    def watch(
        self,
        info: ResourceInfo,
        namespace: str | None,
        label: str | None,
        field: str | None,
        resource_version: str | None,
        timeout: float,
        bookmark_interval: float | None,
        stop: threading.Event,
    ) -> Iterator[Obj]:
        """Watch events as dicts `{"type", "object"}`; validates arguments before the first yield."""
        match = self._matcher(label, field)
        ns = namespace or None

        def visible(o: Obj | None) -> bool:
            return o is not None and (ns is None or o["metadata"].get("namespace") == ns) and match(o)

        def translate(ev: Event) -> Obj | None:
            if (ev.group, ev.plural) != (info.group, info.plural):
                return None
            now_in, was_in = visible(ev.obj), visible(ev.old)
            if ev.type == "ADDED":
                kind = "ADDED" if now_in else None
            elif ev.type == "DELETED":
                kind = "DELETED" if was_in else None
            else:
                kind = "MODIFIED" if now_in and was_in else "ADDED" if now_in else "DELETED" if was_in else None
            if kind is None:
                return None
            return {"type": kind, "object": self._out(info, copy.deepcopy(ev.obj))}

        initial: list[Obj] = []
        with self.store.lock:
            if resource_version in (None, "", "0"):
                cursor = self.store.rv
                initial = [
                    {"type": "ADDED", "object": self._out(info, o)}
                    for o in self.store.list(info.group, info.plural, ns)
                    if visible(o)
                ]
                gone = False
            else:
                try:
                    cursor = int(resource_version)
                except ValueError:
                    raise errors.bad_request(f"invalid resource version {resource_version!r}") from None
                gone = cursor < self.store.compacted_rv
        return self._watch_stream(info, initial, cursor, gone, translate, timeout, bookmark_interval, stop)

    def _watch_stream(
        self,
        info: ResourceInfo,
        initial: list[Obj],
        cursor: int,
        gone: bool,
        translate: Callable[[Event], Obj | None],
        timeout: float,
        bookmark_interval: float | None,
        stop: threading.Event,
    ) -> Iterator[Obj]:
        if gone:
            yield {"type": "ERROR", "object": self._too_old(cursor)}
            return
        yield from initial
        deadline = time.monotonic() + timeout
        next_bookmark = time.monotonic() + bookmark_interval if bookmark_interval else float("inf")
        while not stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            with self.store.changed:
                if self.store.rv == cursor:
                    self.store.changed.wait(min(left, next_bookmark - time.monotonic(), 1.0))
                if cursor < self.store.compacted_rv:
                    expired = True
                    events: list[Event] = []
                else:
                    expired = False
                    events = self.store.events_after(cursor)
                    cursor = self.store.rv
            if expired:
                yield {"type": "ERROR", "object": self._too_old(cursor)}
                return
            for ev in events:
                out = translate(ev)
                if out is not None:
                    yield out
            if time.monotonic() >= next_bookmark:
                yield {
                    "type": "BOOKMARK",
                    "object": {"kind": info.kind, "apiVersion": info.api_version, "metadata": {"resourceVersion": str(cursor)}},
                }
                next_bookmark = time.monotonic() + (bookmark_interval or 0)

    def _too_old(self, rv: int) -> Obj:
        return errors.gone(f"too old resource version: {rv} ({self.store.compacted_rv})").status()
