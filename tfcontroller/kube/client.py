"""A small dynamic client: get/list/create/replace/patch/delete/watch for any resource, as plain dicts.

Why not the generated typed APIs: controllers work on CRs and arbitrary manifests as dicts, and the
generated client's calling conventions changed between releases (the 37.x generator rewrote
`ApiClient.call_api`). So the `kubernetes` package is used for what it is good at — loading kubeconfig
or in-cluster config (TLS, tokens, exec plugins) and a configured urllib3 pool — and requests are
sent through that pool directly. The pool is thread-safe; one `KubeClient` is shared by all workers.
"""

from __future__ import annotations

import base64
import builtins
import json
import logging
import re
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import urllib3

from tfcontroller.kube.config import StaticConfiguration, load_configuration, load_static
from tfcontroller.kube.errors import ApiError, NotFound, error_from_status
from tfcontroller.kube.resources import CONFIGMAPS, PODS, SECRETS, WELL_KNOWN, Resource
from tfcontroller.kube.watch import WatchStream

log = logging.getLogger(__name__)

PATCH_CONTENT_TYPES = {
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "apply": "application/apply-patch+yaml",
}
DEFAULT_TIMEOUT = urllib3.Timeout(connect=10.0, read=60.0)

CONNECTION_FAILED = "ConnectionFailed"  # ApiError.reason when no HTTP answer came back at all
_ERRNO_TEXT = re.compile(r"\[Errno -?\d+\] ([^'\"\])]+)")


def connection_cause(exc: BaseException) -> str:
    """Why a request got no answer, in the words an operator knows ("connection refused", "timed out",
    "name or service not known"), from urllib3's exception; its class name when nothing better is known."""
    text = str(getattr(exc, "reason", None) or exc)
    found = _ERRNO_TEXT.search(text)
    if found:
        return found.group(1).strip().lower()
    if isinstance(exc, urllib3.exceptions.TimeoutError) or "timed out" in text:
        return "timed out"
    if isinstance(exc, urllib3.exceptions.SSLError):
        return f"TLS failed: {text}"[:300]
    return type(exc).__name__


class KubeClient:
    """Thread-safe facade over one configured connection pool. All objects are plain dicts."""

    def __init__(
        self,
        configuration: Any,  # a kubernetes.client.Configuration, or a StaticConfiguration
        *,
        impersonate_user: str | None = None,
        impersonate_groups: tuple[str, ...] = (),
        impersonate_uid: str = "",
        _api_client: Any = None,
        _pool: urllib3.PoolManager | None = None,
        _discovery: dict[tuple[str, str], Resource] | None = None,
    ) -> None:
        self.configuration = configuration
        if _pool is None and _api_client is None and isinstance(configuration, StaticConfiguration):
            _pool = configuration.pool_manager()
        if _pool is None and _api_client is None:
            from kubernetes import client as k8s_client  # imported when used: see kube/config.py

            _api_client = k8s_client.ApiClient(configuration)
        self.api_client = _api_client
        self._pool: urllib3.PoolManager = _pool if _pool is not None else _api_client.rest_client.pool_manager
        self._host: str = str(configuration.host).rstrip("/")
        self.impersonate_user = impersonate_user
        self.impersonate_groups = impersonate_groups
        self.impersonate_uid = impersonate_uid
        self._discovery = _discovery if _discovery is not None else dict(WELL_KNOWN)
        self._discovery_lock = threading.Lock()
        self._source: tuple[str, str | None] | None = None  # kubeconfig path/context it was loaded from

    @property
    def host(self) -> str:
        """The API server's URL, as the kubeconfig or in-cluster config names it."""
        return self._host

    @classmethod
    def load(cls, kubeconfig: str | None = None, context: str | None = None, *,
             static: bool = False) -> KubeClient:
        """`static=True` (the operator CLI) reads a kubeconfig with static credentials without importing
        `kubernetes` (kube/config.py says why); other kubeconfigs go through `kubernetes`' loader."""
        cfg = load_static(kubeconfig, context) if static and kubeconfig else None
        client = cls(cfg if cfg is not None else load_configuration(kubeconfig, context))
        if kubeconfig:
            client._source = (kubeconfig, context)
        return client

    def _reload_credentials(self) -> bool:
        """After a 401: re-read the kubeconfig (tokens get rotated, a restarted dev cluster issues a
        new one). Returns True when the credentials changed, so the request is worth one retry."""
        if self._source is None:
            return False
        try:
            fresh = (load_static(*self._source) if isinstance(self.configuration, StaticConfiguration)
                     else load_configuration(*self._source))
            if fresh is None:
                return False
        except Exception:  # noqa: BLE001 - a half-written kubeconfig: keep the old credentials
            return False
        if fresh.api_key == self.configuration.api_key:
            return False
        self.configuration.api_key = dict(fresh.api_key)
        self.configuration.api_key_prefix = dict(fresh.api_key_prefix)
        # the loader's refresh hook re-installs the token it read, so it must be replaced as well
        self.configuration.refresh_api_key_hook = fresh.refresh_api_key_hook
        return True

    def impersonating(self, user: str, groups: tuple[str, ...] = (), uid: str = "") -> KubeClient:
        """A separate client acting as `user` (e.g. `system:serviceaccount:ns:name`) with `groups` (and
        `uid`, when given: the caller then needs `impersonate` on `uids` as well); shares the pool."""
        return KubeClient(
            self.configuration,
            impersonate_user=user,
            impersonate_groups=tuple(groups),
            impersonate_uid=uid,
            _api_client=self.api_client,
            _pool=self._pool,
            _discovery=self._discovery,
        )

    def close(self) -> None:
        if self.impersonate_user is None:
            if self.api_client is not None:
                self.api_client.rest_client.close()
            else:
                self._pool.clear()

    # ---- transport -------------------------------------------------------------------------
    def _headers(self, content_type: str | None, accept: str = "application/json") -> urllib3.HTTPHeaderDict:
        headers = urllib3.HTTPHeaderDict({"Accept": accept, "User-Agent": "tfcontroller"})
        if content_type:
            headers["Content-Type"] = content_type
        token = self.configuration.get_api_key_with_prefix("BearerToken", alias="authorization")
        if token:
            headers["Authorization"] = token
        elif self.configuration.username or self.configuration.password:
            basic = self.configuration.get_basic_auth_token()
            if basic:
                headers["Authorization"] = basic
        if self.impersonate_user:
            headers["Impersonate-User"] = self.impersonate_user
        # one header line per group: kube-apiserver reads repeated Impersonate-Group headers, never a
        # comma-joined value (a group name may hold a comma); HTTPHeaderDict.add sends them apart
        for group in self.impersonate_groups:
            headers.add("Impersonate-Group", group)
        if self.impersonate_uid:
            headers["Impersonate-Uid"] = self.impersonate_uid
        return headers

    def _url(self, path: str, query: dict[str, Any] | None) -> str:
        q = {k: v for k, v in (query or {}).items() if v is not None}
        return f"{self._host}{path}" + (f"?{urlencode(q)}" if q else "")

    def _document(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """`request` for calls whose answer is one JSON object."""
        document: dict[str, Any] = self.request(method, path, **kwargs)
        return document

    def request(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, Any] | None = None,
        body: Any = None,
        content_type: str | None = None,
        timeout: urllib3.Timeout | float | None = None,
    ) -> Any:
        """Send one request and return the decoded JSON answer, raising a typed error otherwise."""
        data: bytes | None = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            content_type = content_type or "application/json"
        what = f"{method} {path}"
        for attempt in (1, 2):
            try:
                resp = self._pool.request(
                    method,
                    self._url(path, query),
                    body=data,
                    headers=self._headers(content_type),
                    timeout=timeout or DEFAULT_TIMEOUT,
                    retries=False,
                )
            except urllib3.exceptions.HTTPError as exc:
                raise ApiError(0, CONNECTION_FAILED, f"{what}: cannot reach the API server {self._host} "
                                                      f"({connection_cause(exc)})") from None
            if resp.status != 401 or attempt == 2 or not self._reload_credentials():
                break
        if not 200 <= resp.status < 300:
            raise error_from_status(resp.status, resp.data, what, resp.headers.get("Retry-After"))
        if not resp.data:
            return None
        return json.loads(resp.data)

    # ---- discovery -------------------------------------------------------------------------
    def resource_for(self, api_version: str, kind: str) -> Resource:
        """The Resource for a kind, from the well-known table or the server's discovery document."""
        with self._discovery_lock:
            found = self._discovery.get((api_version, kind))
        if found:
            return found
        base = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
        doc = self.request("GET", base)
        with self._discovery_lock:
            for r in doc.get("resources", []):
                if "/" in r.get("name", ""):
                    continue  # subresources
                res = Resource(api_version, r["kind"], r["name"], bool(r.get("namespaced")))
                self._discovery[(api_version, r["kind"])] = res
            found = self._discovery.get((api_version, kind))
        if not found:
            raise NotFound(404, "NotFound", f"no resource for kind {kind} in {api_version}")
        return found

    def resource_of(self, obj: dict[str, Any]) -> Resource:
        return self.resource_for(obj["apiVersion"], obj["kind"])

    # ---- verbs -----------------------------------------------------------------------------
    def get(self, resource: Resource, name: str, namespace: str | None = None) -> dict[str, Any]:
        return self._document("GET", resource.path(namespace, name))

    def get_or_none(self, resource: Resource, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        try:
            return self.get(resource, name, namespace)
        except NotFound:
            return None

    def list(
        self,
        resource: Resource,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> dict[str, Any]:
        """One page of a list, as the server's List object (items plus metadata.resourceVersion)."""
        query = {
            "labelSelector": label_selector or None,
            "fieldSelector": field_selector or None,
            "limit": limit,
            "continue": continue_token,
        }
        return self._document("GET", resource.path(namespace), query=query)

    def list_all(
        self,
        resource: Resource,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        page_size: int = 500,
    ) -> tuple[builtins.list[dict[str, Any]], str]:
        """All items across pages and the list's resourceVersion (where a watch can start)."""
        items: list[dict[str, Any]] = []
        token: str | None = None
        rv = ""
        while True:
            page = self.list(
                resource, namespace, label_selector=label_selector, field_selector=field_selector,
                limit=page_size, continue_token=token,
            )
            kind = resource.kind
            for item in page.get("items") or []:
                item.setdefault("apiVersion", resource.api_version)
                item.setdefault("kind", kind)
                items.append(item)
            meta = page.get("metadata") or {}
            rv = meta.get("resourceVersion") or rv
            token = meta.get("continue")
            if not token:
                return items, rv

    def create(self, resource: Resource, obj: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
        ns = namespace or (obj.get("metadata") or {}).get("namespace")
        return self._document("POST", resource.path(ns), body=obj)

    def replace(self, resource: Resource, obj: dict[str, Any], *, subresource: str | None = None) -> dict[str, Any]:
        """PUT; the object's metadata.resourceVersion makes it conditional (409 Conflict when stale)."""
        meta = obj["metadata"]
        return self._document("PUT", resource.path(meta.get("namespace"), meta["name"], subresource), body=obj)

    def patch(
        self,
        resource: Resource,
        name: str,
        patch: Any,
        namespace: str | None = None,
        *,
        patch_type: str = "merge",
        field_manager: str | None = None,
        force: bool | None = None,
        subresource: str | None = None,
    ) -> dict[str, Any]:
        """Patch with `patch_type` in merge | json | strategic | apply (server-side apply)."""
        if patch_type not in PATCH_CONTENT_TYPES:
            raise ValueError(f"unknown patch type {patch_type!r}")
        if patch_type == "apply" and not field_manager:
            raise ValueError("server-side apply needs a field_manager")
        query = {"fieldManager": field_manager, "force": ("true" if force else None)}
        return self._document(
            "PATCH", resource.path(namespace, name, subresource), query=query, body=patch,
            content_type=PATCH_CONTENT_TYPES[patch_type],
        )

    def apply(self, obj: dict[str, Any], *, field_manager: str, force: bool = False,
              resource: Resource | None = None) -> dict[str, Any]:
        """Server-side apply of a whole object (JSON is valid YAML, so the body is sent as JSON)."""
        res = resource or self.resource_of(obj)
        meta = obj["metadata"]
        return self.patch(res, meta["name"], obj, meta.get("namespace"), patch_type="apply",
                          field_manager=field_manager, force=force)

    def delete(
        self,
        resource: Resource,
        name: str,
        namespace: str | None = None,
        *,
        propagation_policy: str | None = None,
        resource_version: str | None = None,
    ) -> dict[str, Any] | None:
        body: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if propagation_policy:
            body["propagationPolicy"] = propagation_policy
        if resource_version:
            body["preconditions"] = {"resourceVersion": resource_version}
        return self._document("DELETE", resource.path(namespace, name), body=body)

    def patch_status(
        self,
        resource: Resource,
        name: str,
        namespace: str | None,
        status_patch: dict[str, Any],
        *,
        resource_version: str | None = None,
    ) -> dict[str, Any]:
        """Merge-patch the status subresource; with `resource_version` it fails with Conflict when stale."""
        body: dict[str, Any] = {"status": status_patch}
        if resource_version:
            body["metadata"] = {"resourceVersion": resource_version}
        return self.patch(resource, name, body, namespace, subresource="status")

    def watch(
        self,
        resource: Resource,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        resource_version: str | None = None,
        timeout_seconds: int = 300,
        allow_bookmarks: bool = True,
    ) -> WatchStream:
        """Open a watch; iterate the result for `(type, obj)` with type ADDED/MODIFIED/DELETED/BOOKMARK."""
        query = {
            "watch": "true",
            "labelSelector": label_selector or None,
            "fieldSelector": field_selector or None,
            "resourceVersion": resource_version or None,
            "timeoutSeconds": int(timeout_seconds),
            "allowWatchBookmarks": "true" if allow_bookmarks else None,
        }
        path = resource.path(namespace)
        for attempt in (1, 2):
            try:
                resp = self._pool.request(
                    "GET", self._url(path, query), headers=self._headers(None), preload_content=False,
                    timeout=urllib3.Timeout(connect=10.0, read=timeout_seconds + 30.0), retries=False,
                )
            except urllib3.exceptions.HTTPError as exc:
                raise ApiError(0, CONNECTION_FAILED, f"WATCH {path}: cannot reach the API server {self._host} "
                                                      f"({connection_cause(exc)})") from None
            if resp.status != 401 or attempt == 2:
                break
            resp.read()
            resp.release_conn()
            if not self._reload_credentials():
                break
        if not 200 <= resp.status < 300:
            data = resp.read()
            resp.release_conn()
            raise error_from_status(resp.status, data, f"WATCH {path}")
        return WatchStream(resp)

    def pod_log(self, namespace: str, name: str, *, container: str, follow: bool = False,
                tail_lines: int | None = None) -> Iterator[str]:
        """The lines of a container's log (`pods/log`, what `kubectl logs` reads). Following, the lines come
        as the container writes them and the iteration ends when the container ends (the server closes the
        stream). Errors as for every request: 400 (not started yet), 403 (`get pods/log` not granted)."""
        query = {"container": container, "follow": "true" if follow else None, "tailLines": tail_lines}
        path = f"{PODS.path(namespace, name)}/log"
        try:
            resp = self._pool.request(
                "GET", self._url(path, query), headers=self._headers(None, accept="*/*"),
                preload_content=False, retries=False,
                timeout=urllib3.Timeout(connect=10.0, read=None if follow else 60.0),
            )
        except urllib3.exceptions.HTTPError as exc:
            raise ApiError(0, CONNECTION_FAILED, f"GET {path}: cannot reach the API server {self._host} "
                                                  f"({connection_cause(exc)})") from None
        if not 200 <= resp.status < 300:
            data = resp.read()
            resp.release_conn()
            raise error_from_status(resp.status, data, f"GET {path}")
        return _lines_of(resp)

    # ---- Secret / ConfigMap helpers ------------------------------------------------------------
    def read_secret_data(self, namespace: str, name: str) -> dict[str, bytes]:
        """The decoded `data` of a Secret. The bytes are returned, never logged or put in errors."""
        obj = self.get(SECRETS, name, namespace)
        return {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}

    def read_configmap_data(self, namespace: str, name: str) -> dict[str, str]:
        obj = self.get(CONFIGMAPS, name, namespace)
        return dict(obj.get("data") or {})

    def upsert_secret(
        self,
        namespace: str,
        name: str,
        data: dict[str, bytes],
        *,
        labels: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None,
        owner_references: builtins.list[dict[str, Any]] | None = None,
        secret_type: str = "Opaque",
    ) -> dict[str, Any]:
        """Create the Secret or replace its content (labels/annotations merged), whichever applies."""
        encoded = {k: base64.b64encode(v).decode() for k, v in data.items()}
        meta: dict[str, Any] = {"name": name, "namespace": namespace}
        if labels:
            meta["labels"] = dict(labels)
        if annotations:
            meta["annotations"] = dict(annotations)
        if owner_references:
            meta["ownerReferences"] = owner_references
        desired = {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "type": secret_type, "data": encoded}
        existing = self.get_or_none(SECRETS, name, namespace)
        if existing is None:
            return self.create(SECRETS, desired)
        merged_meta = dict(existing["metadata"])
        merged_meta["labels"] = {**(merged_meta.get("labels") or {}), **(labels or {})}
        merged_meta["annotations"] = {**(merged_meta.get("annotations") or {}), **(annotations or {})}
        if owner_references is not None:
            merged_meta["ownerReferences"] = owner_references
        desired["metadata"] = merged_meta
        desired["type"] = existing.get("type", secret_type)
        return self.replace(SECRETS, desired)


def _lines_of(resp: urllib3.BaseHTTPResponse) -> Iterator[str]:
    """A streamed text body as lines (without their newline), each as soon as it is complete."""
    partial = b""
    try:
        for chunk in resp.stream(None):
            partial += chunk
            *lines, partial = partial.split(b"\n")
            for line in lines:
                yield line.decode("utf-8", errors="replace")
        if partial:
            yield partial.decode("utf-8", errors="replace")
    finally:
        resp.release_conn()
