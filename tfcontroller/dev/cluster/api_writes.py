"""The write verbs of the dev cluster: create, update (PUT), patch (merge, JSON, strategic merge) and
server-side apply, with status subresources, generation, managedFields and the no-op rule.

Two writes besides create may create: a server-side apply of a missing object (always), and a PUT of a
missing object of a kind whose registry allows create on update (`ResourceInfo.allow_create_on_update`;
other PUTs and every other patch of a missing object are 404). Both go through `create`, which runs the
caller's `authorize_create` after defaulting and validation and before storing — where kube-apiserver
authorises such a write as `create` — so that `patch` or `update` permission alone never creates."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable
from typing import Any

from tfcontroller.dev.cluster import builtin, crds, errors, fieldvalidation
from tfcontroller.dev.cluster.api_base import (
    APPLY_PATCH,
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_PATCH,
    is_namespace,
)
from tfcontroller.dev.cluster.api_deletes import DeleteVerbs
from tfcontroller.dev.cluster.errors import ApiError
from tfcontroller.dev.cluster.fieldvalidation import FieldValidation
from tfcontroller.dev.cluster.meta import generated_name, now, spec_part, without_volatile
from tfcontroller.dev.cluster.resources import ResourceInfo
from tfcontroller.dev.cluster.store import Obj


class WriteVerbs(DeleteVerbs):
    """create, update, patch and apply; built on the deletes because a write that empties the finalizers
    of a deleted object removes it."""

    def create(
        self,
        info: ResourceInfo,
        namespace: str | None,
        body: Obj,
        dry_run: bool = False,
        manager: str | None = None,
        fv: FieldValidation | None = None,
        authorize_create: Callable[[], None] | None = None,
    ) -> Obj:
        """`authorize_create` is the second authorisation of a PUT or apply that creates (see the module)."""
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
            if self.admission is not None:
                self.admission(info, obj)
            self._admit(info, obj)
            for key in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds"):
                meta.pop(key, None)
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = now()
            meta["generation"] = 1
            if info.has_status and not is_namespace(info):
                obj.pop("status", None)  # the status subresource owns status; create resets it
            self._out(info, obj)
            self._prepare(info, obj, None, fv)
            if authorize_create is not None:
                authorize_create()
            if manager:
                obj = self._managed(None, obj, manager, None)
            if dry_run:
                return obj
            stored = self.store.put(info.group, info.plural, obj)
            self._after_write(info, stored)
            return self._out(info, stored)

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
        authorize_create: Callable[[], None] | None = None,
    ) -> tuple[int, Obj]:
        """(200, the updated object), or (201, the created one) for a missing object of a kind that allows
        create on update."""
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
                if subresource or not info.allow_create_on_update:
                    raise errors.not_found(info.group, info.plural, name)
                new = copy.deepcopy(body)  # its resourceVersion, if any, is dropped as on every create
                new.setdefault("metadata", {})["name"] = name
                return 201, self.create(info, namespace, new, dry_run, manager, fv, authorize_create)
            wanted_rv = (body.get("metadata") or {}).get("resourceVersion")
            if wanted_rv and wanted_rv != old["metadata"]["resourceVersion"]:
                raise errors.conflict(info.group, info.plural, name, errors.STALE)
            return 200, self._replace(info, old, copy.deepcopy(body), subresource, dry_run, manager, fv)

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
        authorize_create: Callable[[], None] | None = None,
    ) -> tuple[int, Obj]:
        """Only a server-side apply creates a missing object (201); other patches of it are 404."""
        from tfcontroller.dev.cluster import patch as patch_mod

        if fv is not None:
            fv.style = fieldvalidation.APPLY if content_type == APPLY_PATCH else fieldvalidation.PATCH

        ns = self._ns_of(info, namespace)
        body = self._decode_patch(content_type, raw)
        with self.store.lock:
            old = self.store.get(info.group, info.plural, ns, name)
            if content_type == APPLY_PATCH:
                return self._apply(info, namespace, name, old, body, subresource, field_manager, force, dry_run, fv,
                                   authorize_create)
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
        authorize_create: Callable[[], None] | None = None,
    ) -> tuple[int, Obj]:
        from tfcontroller.dev.cluster import apply as apply_mod
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
            new = apply_mod.server_side_apply(live, applied, field_manager, force)
        except apply_mod.ApplyConflictError as exc:
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
            return 201, self.create(info, namespace, new, dry_run, fv=fv, authorize_create=authorize_create)
        return 200, self._replace(info, old, new, subresource, dry_run, fv=fv)

    @staticmethod
    def _managed(old: Obj | None, new: Obj, manager: str, subresource: str | None) -> Obj:
        """Record a non-apply write in managedFields (operation Update), so that later server-side
        applies see who set what."""
        from tfcontroller.dev.cluster import apply as apply_mod

        return apply_mod.update_managed_fields(old, new, manager, "Update", subresource or "")

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
        if old_meta.get("deletionTimestamp"):
            added = set(meta.get("finalizers") or []) - set(old_meta.get("finalizers") or [])
            if added:
                raise self._invalid(info, old_meta["name"], [("metadata.finalizers", "Forbidden: no new finalizers can be added if the object is being deleted")])
        self._out(info, new)
        self._prepare(info, new, old, fv)
        # After defaulting: a body that only leaves out what the server defaults changes nothing.
        meta = new["metadata"]  # _prepare may have rebuilt the object (schema pruning and defaults)
        meta["generation"] = old_meta.get("generation", 1)
        if spec_part(new) != spec_part(old):
            meta["generation"] += 1
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
