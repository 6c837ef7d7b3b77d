"""What every verb family of the dev cluster's `Api` shares: the store and registry, the object as seen
through a version, and the checks and defaulting of a body before it is stored.

Split out of api.py so that each verb family (api_reads.py, api_writes.py, api_deletes.py) stays small
and names what it does; the families build on each other in that order (`Api` in api.py).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from tfcontroller.dev.cluster import builtin, crds, defaults, errors, fieldvalidation, immutable
from tfcontroller.dev.cluster.errors import ApiError
from tfcontroller.dev.cluster.fieldvalidation import FieldValidation
from tfcontroller.dev.cluster.meta import metadata_problems, name_problems
from tfcontroller.dev.cluster.resources import Registry, ResourceInfo
from tfcontroller.dev.cluster.store import Obj, Store

PROTECTED_NAMESPACES = ("default", "kube-system", "kube-public")
FOREGROUND = "foregroundDeletion"  # the finalizer of an owner waiting for its blocking dependents
PROPAGATION_POLICIES = ("Orphan", "Background", "Foreground")
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"


def key_of(obj: Obj) -> tuple[str, str]:
    """(namespace, name): the order of list pages and continue tokens."""
    return obj["metadata"].get("namespace", ""), obj["metadata"]["name"]


def is_namespace(info: ResourceInfo) -> bool:
    return info.group == "" and info.plural == "namespaces"


def is_crd(info: ResourceInfo) -> bool:
    return info.group == crds.CRD_GROUP and info.plural == crds.CRD_PLURAL


class ApiBase:
    """State and helpers shared by the verb families; serves no verb itself."""

    def __init__(self, store: Store, registry: Registry) -> None:
        self.store = store
        self.registry = registry
        # Called after delete requests and removals, so that the garbage collector (gc.py) sweeps at once.
        self.on_delete: Callable[[], None] = lambda: None
        # Graceful deletion of Pods on a node (node/status.py graceful_deletion, set by the dev node): the
        # object as marked for the kubelet to finish, or None to delete at once.
        self.graceful_delete: Callable[[ResourceInfo, Obj, dict[str, Any]], Obj | None] | None = None
        # Mutating admission of new objects (the dev node's ServiceAccount admission of Pods); raises ApiError
        # to refuse the create.
        self.admission: Callable[[ResourceInfo, Obj], None] | None = None
        # How long a list for a resourceVersion the store has not reached waits before its 504.
        self.too_large_wait = 3.0

    def _out(self, info: ResourceInfo, obj: Obj) -> Obj:
        """The object as seen through the requested version."""
        obj["apiVersion"] = info.api_version
        obj["kind"] = info.kind
        return obj

    @staticmethod
    def _view_out(info: ResourceInfo, stored: Obj) -> Obj:
        """A stored object as seen through the requested version without copying it: a dict of its own
        (the same keys in the same order as `_out` gives) sharing every value with the stored object,
        which is never changed in place (store.py). Read paths only; never mutate what this returns."""
        return {**stored, "apiVersion": info.api_version, "kind": info.kind}

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

    @staticmethod
    def _admit(info: ResourceInfo, obj: Obj) -> None:
        """The API server's own default admission plugins that mutate new objects: Priority and
        DefaultTolerationSeconds on Pods (defaults.py); their refusal is a 403."""
        if (info.group, info.plural) != ("", "pods"):
            return
        try:
            defaults.admit_pod(obj)
        except defaults.Refused as exc:
            meta = obj.get("metadata") or {}
            name = meta.get("name") or meta.get("generateName", "")
            raise errors.forbidden(f'pods "{name}" is forbidden: {exc}', "", "pods", name) from None

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
        defaults.default_object(info.group, info.plural, obj)  # decoding defaults, before any check compares
        meta = obj["metadata"]
        problems = [("metadata.name", f'Invalid value: "{meta["name"]}": {p}') for p in name_problems(info, meta["name"])]
        problems += metadata_problems(meta)
        problems += immutable.problems(info.group, info.kind, obj, old)
        reasons = ["FieldValueInvalid"] * len(problems)
        problems += [(f, m) for f, m, _ in builtin_problems]
        reasons += [r for _, _, r in builtin_problems]
        if info.group == "" and info.plural == "secrets":
            self._fold_string_data(obj, problems)
        elif is_namespace(info):
            meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
            obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
            obj.setdefault("status", {})["phase"] = "Terminating" if meta.get("deletionTimestamp") else "Active"
        elif (info.group, info.plural) == ("batch", "jobs") and old is None:
            defaults.default_job(obj)
        elif (info.group, info.plural) == ("", "pods") and old is None:
            defaults.pending_status(obj)
        elif is_crd(info):
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

        assert info.schema is not None  # the caller checks: only custom resources with a schema get here
        try:
            result = schema_mod.apply_schema(obj, info.schema)
        except schema_mod.SchemaValidationError as exc:
            status = exc.to_status()
            raise ApiError(422, "Invalid", status["message"], status["details"]) from None
        obj.clear()
        obj.update(result)

    def _check_type(self, info: ResourceInfo, obj: Obj) -> None:
        kind, api_version = obj.get("kind"), obj.get("apiVersion")
        if kind and kind != info.kind:
            raise errors.bad_request(f"the kind {kind!r} of the object does not match the URL ({info.kind})")
        if api_version and api_version.split("/")[0] != (info.group or "v1") and api_version != info.api_version:
            raise errors.bad_request(f"the API version {api_version!r} of the object does not match the URL")

    @staticmethod
    def _check_decodes(info: ResourceInfo, obj: Obj) -> None:
        """A create/update body of a built-in kind must decode into its Go type: the real server's 400."""
        report = builtin.check(info.group, info.version, info.kind, obj)
        if report is not None and report.types:
            raise errors.bad_request(f'{info.kind} in version "{info.version}" cannot be handled as a '
                                     f"{info.kind}: {report.types[0].decode_message()}")

    def _after_write(self, info: ResourceInfo, stored: Obj) -> None:
        if is_crd(info):
            group = stored["spec"]["group"]
            plural = stored["spec"]["names"]["plural"]
            self.registry.remove(group, plural)
            for served in crds.resource_infos(stored):
                self.registry.add(served)

    def _info(self, group: str, plural: str) -> ResourceInfo | None:
        versions = self.registry.versions_of(group, plural)
        return versions[0] if versions else None

    def info_for(self, group: str, plural: str) -> ResourceInfo | None:
        """A served version of a stored resource (None once its CRD is gone)."""
        return self._info(group, plural)
