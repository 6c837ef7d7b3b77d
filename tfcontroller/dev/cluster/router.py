"""From an HTTP request to an API call: URL parsing, query parameters, content negotiation.

`Router.handle(request)` returns a `Response` (a JSON document) or a `WatchResponse` (a stream of
watch events); the socket side (httpserver.py) only encodes them. One `_verb_*` function per verb.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tfcontroller.dev.cluster import authz, discovery, errors, fieldvalidation, protobuf, rbac_writes
from tfcontroller.dev.cluster.api import APPLY_PATCH, Api
from tfcontroller.dev.cluster.authn import Authenticator
from tfcontroller.dev.cluster.errors import ApiError
from tfcontroller.dev.cluster.fieldvalidation import FieldValidation
from tfcontroller.dev.cluster.identity import UserInfo
from tfcontroller.dev.cluster.oidc import OIDCAuthenticator
from tfcontroller.dev.cluster.policy import PolicyController
from tfcontroller.dev.cluster.rbac import RBAC
from tfcontroller.dev.cluster.resources import Registry, ResourceInfo
from tfcontroller.dev.cluster.reviews import REVIEW_KINDS, Reviews
from tfcontroller.dev.cluster.tokens import TokenIssuer

log = logging.getLogger(__name__)
JSON_TYPE = "application/json"
DEFAULT_WATCH_TIMEOUT = 1800.0


@dataclass
class Request:
    """One HTTP request. `headers` holds the first value of each header (lower-case names), what Go's
    `Header.Get` reads for single-valued headers (Authorization, Content-Type, Accept, Impersonate-User);
    `repeated` holds every value of a header sent several times, each line one value, never split on
    commas: kube-apiserver reads `Impersonate-Group` and `Impersonate-Extra-*` that way, so a group
    named "a,b" stays one group."""

    method: str
    target: str  # path with query string
    headers: dict[str, str]  # lower-case names -> the first value
    body: bytes = b""
    repeated: dict[str, tuple[str, ...]] = field(default_factory=dict)  # lower-case names -> every value

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")

    def header_values(self, name: str) -> tuple[str, ...]:
        """Every value of a header, one per header line (one when sent once, none when absent)."""
        key = name.lower()
        if key in self.repeated:
            return self.repeated[key]
        return (self.headers[key],) if key in self.headers else ()


def request_headers(lines: Iterable[tuple[str, str]]) -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
    """The header lines of a request as `Request.headers` (the first value per lower-case name) and
    `Request.repeated` (every value of a name sent more than once, in order). Pure."""
    first: dict[str, str] = {}
    every: dict[str, list[str]] = {}
    for key, value in lines:
        key = key.lower()
        first.setdefault(key, value)
        every.setdefault(key, []).append(value)
    return first, {k: tuple(v) for k, v in every.items() if len(v) > 1}


@dataclass
class Response:
    code: int
    body: Any  # JSON-serialisable document, or bytes sent as they are
    content_type: str = JSON_TYPE
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body, separators=(",", ":")).encode()


@dataclass
class WatchResponse:
    events: Iterator[dict[str, Any] | bytes]  # an event, or its JSON already encoded


@dataclass
class StreamResponse:
    """A plain-text body sent in chunks as they come (`pods/log?follow=true`)."""

    chunks: Iterator[bytes]
    content_type: str = "text/plain"


# (namespace, name, query) -> the log as bytes, or chunks to stream (the dev node's Node.log_stream).
PodLogs = Callable[[str, str, dict[str, str]], "bytes | Iterator[bytes]"]


@dataclass
class Target:
    """A resource URL taken apart, with the user the request runs as."""

    info: ResourceInfo
    namespace: str | None
    name: str | None
    subresource: str | None
    user: UserInfo | None = None


def _truthy(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true", "yes")


class Router:
    def __init__(
        self,
        api: Api,
        registry: Registry,
        token: str,
        stop: threading.Event,
        bookmark_interval: float = 1.0,
        tokens: TokenIssuer | None = None,
        oidc: OIDCAuthenticator | None = None,
    ) -> None:
        self.api = api
        self.registry = registry
        self.token = token
        self.stop = stop
        self.bookmark_interval = bookmark_interval
        self.server_address = "127.0.0.1:0"
        self.tokens = tokens if tokens is not None else TokenIssuer(api.store)
        self.authn = Authenticator(token, self.tokens, oidc)
        self.authz = authz.Authorizer(api.store)
        self.reviews = Reviews(self.authn, self.authz, self.tokens)
        self.policy = PolicyController(api)
        self.pod_logs: PodLogs | None = None  # set when the cluster runs a node

    # ------------------------------------------------------------------ entry point
    def handle(self, req: Request) -> Response | WatchResponse | StreamResponse:
        try:
            return self._handle(req)
        except ApiError as exc:
            return Response(exc.code, exc.status())
        except Exception as exc:  # a server bug: answer like kube-apiserver does, keep the connection usable
            log.exception("internal error serving %s %s", req.method, req.target)
            return Response(500, ApiError(500, "InternalError", f"an error on the server: {exc}").status())

    def _handle(self, req: Request) -> Response | WatchResponse | StreamResponse:
        url = urlsplit(req.target)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        parts = [unquote(p) for p in url.path.split("/") if p]
        user = self._user(req)
        if not _is_resource_path(parts):  # discovery, OpenAPI, health, version: checked by path
            self.authz.check(authz.non_resource_attributes(user, req.method, url.path or "/"))
        if parts in (["healthz"], ["readyz"], ["livez"]) or (parts and parts[0] in ("healthz", "readyz", "livez")):
            return Response(200, b"ok", "text/plain; charset=utf-8")
        if parts == ["version"]:
            return Response(200, discovery.version_info())
        if "protobuf" in req.header("content-type") and req.body:
            try:  # kubectl's imperative `create` sends protobuf and never retries with JSON
                body = json.dumps(protobuf.decode(req.body)).encode()
            except protobuf.ProtobufError:
                raise errors.unsupported_media_type(req.header("content-type")) from None
            req = Request(req.method, req.target, {**req.headers, "content-type": JSON_TYPE}, body, req.repeated)
        if not parts:
            return Response(200, {"paths": ["/api", "/api/v1", "/apis", "/healthz", "/openapi/v2", "/openapi/v3", "/version"]})
        if parts[0] == "openapi":
            return self._openapi(req, parts[1:])
        if parts[0] == "api":
            if len(parts) == 1:
                return Response(200, discovery.core_api_versions(self.server_address))
            return self._group_version(req, query, "", parts[1], parts[2:], user)
        if parts[0] == "apis":
            if len(parts) == 1:
                return Response(200, discovery.api_group_list(self.registry))
            if len(parts) == 2:
                doc = discovery.api_group(self.registry, parts[1])
                if doc is None:
                    raise errors.path_not_found(url.path)
                return Response(200, doc)
            return self._group_version(req, query, parts[1], parts[2], parts[3:], user)
        raise errors.path_not_found(url.path)

    def _user(self, req: Request) -> UserInfo:
        """Authenticate (401 for bad credentials, anonymous without), then impersonate if asked."""
        user = self.authn.authenticate(req.headers)
        if authz.impersonation_requested(req.headers):
            user = authz.impersonate(self.authz, user, {k: req.header_values(k) for k in req.headers})
        return user

    def _openapi(self, req: Request, rest: list[str]) -> Response:
        if req.method != "GET":
            raise errors.method_not_allowed()
        if rest == ["v2"]:
            content_type, body = discovery.openapi_v2_response(self.registry, req.header("accept"))
            return Response(200, body, content_type)
        if rest == ["v3"]:
            return Response(200, discovery.openapi_v3_index(self.registry))
        if len(rest) >= 3 and rest[0] == "v3":
            if rest[1] == "api" and len(rest) == 3:
                doc = discovery.openapi_v3_group_version(self.registry, "", rest[2])
            elif rest[1] == "apis" and len(rest) == 4:
                doc = discovery.openapi_v3_group_version(self.registry, rest[2], rest[3])
            else:
                doc = None
            if doc is not None:
                return Response(200, doc)
        raise errors.path_not_found("/openapi/" + "/".join(rest))

    # ------------------------------------------------------------------ resource URLs
    def _group_version(
        self, req: Request, query: dict[str, str], group: str, version: str, rest: list[str], user: UserInfo
    ) -> Response | WatchResponse | StreamResponse:
        if not rest:
            if req.method != "GET":
                raise errors.method_not_allowed()
            doc = discovery.api_resource_list(self.registry, group, version)
            if doc is None:
                raise errors.path_not_found(req.target)
            return Response(200, doc)
        target = self._target(group, version, rest)
        if target is None:
            raise errors.path_not_found(req.target)
        target.user = user
        # A namespace's own URL is in that namespace, as the real RequestInfo has it.
        namespace = target.name if target.info.plural == "namespaces" and target.info.group == "" else target.namespace
        self.authz.check(authz.resource_attributes(user, req.method, query, target.info.group, target.info.plural,
                                                   namespace, target.name, target.subresource))
        if target.subresource == "log":
            return self._pod_log(req, query, target)
        special = self._special(req, target)
        if special is not None:
            return special
        if target.info.group == RBAC and req.method in ("POST", "PUT", "PATCH", "DELETE"):
            return self._rbac_write(req, query, target)
        response = self._dispatch(req, query, target)
        if (target.info.group, target.info.plural) in (("", "namespaces"), ("", "serviceaccounts")) \
                and req.method in ("POST", "PUT", "PATCH", "DELETE") and not _dry_run(query):
            self._default_service_account(target, response)
        return response

    def _default_service_account(self, t: Target, response: Response | WatchResponse) -> None:
        """The ServiceAccount controller: `default` in a namespace just made, or again after its delete."""
        if t.info.plural == "namespaces":
            body = response.body if isinstance(response, Response) and isinstance(response.body, dict) else {}
            name = t.name or (body.get("metadata") or {}).get("name")
            if name:
                self.policy.ensure_default_service_accounts(str(name))
        elif t.name == "default" and t.namespace:
            self.policy.ensure_default_service_accounts(t.namespace)

    def _special(self, req: Request, t: Target) -> Response | None:
        """The create-only reviews and TokenRequest: answered, never stored."""
        key = (t.info.group, t.info.plural)
        if key in REVIEW_KINDS or t.subresource == "token":
            if req.method != "POST" or (key in REVIEW_KINDS and t.name is not None):
                raise errors.method_not_allowed()
            assert t.user is not None
            if t.subresource == "token":
                return Response(201, self.reviews.token_request(t.namespace or "", t.name or "", self._body(req)))
            return Response(201, self.reviews.review(t.user, t.info.group, t.info.plural, t.namespace or "", self._body(req)))
        return None

    def _rbac_write(self, req: Request, query: dict[str, str], t: Target) -> Response | WatchResponse:
        """Roles and bindings: the privilege-escalation checks, then the write, then aggregation."""
        assert t.user is not None
        if not t.user.is_admin and req.method != "DELETE":
            if req.method == "PATCH":  # the patched object, by a dry run of the same patch
                dry = {**query, "dryRun": "All"}
                result = self._verb_patch(req, dry, t).body
            else:
                result = self._body(req)
            rbac_writes.check(self.authz, t.user, t.info.plural, t.namespace or "", t.name or "", result)
        response = self._dispatch(req, query, t)
        if t.info.plural == "clusterroles" and not _dry_run(query):
            self.policy.aggregate()
        return response

    def _dispatch(self, req: Request, query: dict[str, str], target: Target) -> Response | WatchResponse:
        verb = {
            ("GET", False): self._verb_list_or_watch,
            ("POST", False): self._verb_create,
            ("DELETE", False): self._verb_delete_collection,
            ("GET", True): self._verb_get,
            ("PUT", True): self._verb_update,
            ("PATCH", True): self._verb_patch,
            ("DELETE", True): self._verb_delete,
        }.get((req.method, target.name is not None))
        if verb is None:
            raise errors.method_not_allowed()
        return verb(req, query, target)

    def _target(self, group: str, version: str, rest: list[str]) -> Target | None:
        namespace: str | None = None
        core_namespaces = group == "" and rest[0] == "namespaces"
        is_namespace_sub = core_namespaces and len(rest) == 3 and rest[2] in ("status", "finalize")
        if rest[0] == "namespaces" and len(rest) >= 3 and not is_namespace_sub:
            namespace, rest = rest[1], rest[2:]
        if len(rest) > 3:
            return None
        info = self.registry.lookup(group, version, rest[0])
        if info is None:
            return None
        if namespace is not None and not info.namespaced:
            return None
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if sub == "finalize" and core_namespaces:
            sub = "status"  # finalize only edits spec.finalizers, which we ignore; treat it like status
        if sub == "log" and (group, info.plural) == ("", "pods") and namespace is not None:
            return Target(info, namespace, name, sub)
        if sub == "token" and (group, info.plural) == ("", "serviceaccounts"):
            return Target(info, namespace, name, sub)  # TokenRequest
        if sub is not None and (sub != "status" or not info.has_status):
            return None
        return Target(info, namespace, name, sub)

    def _pod_log(self, req: Request, query: dict[str, str], t: Target) -> Response | StreamResponse:
        if req.method != "GET":
            raise errors.method_not_allowed()
        if self.pod_logs is None:
            raise errors.bad_request("this dev cluster runs no node: Pods have no logs (start it with a node)")
        body = self.pod_logs(t.namespace or "", t.name or "", query)
        if isinstance(body, bytes):
            return Response(200, body, "text/plain")
        return StreamResponse(body)

    def _body(self, req: Request) -> Any:
        try:
            text = req.body.decode() or "null"
            if "yaml" in req.header("content-type"):
                import yaml

                return yaml.safe_load(text)
            return json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise errors.bad_request(f"error decoding request body: {exc}") from None

    def _rendered(self, req: Request, info: ResourceInfo, doc: dict[str, Any], code: int = 200) -> Response:
        """Apply Accept-driven conversions (Table, PartialObjectMetadata) to a GET answer."""
        accept = req.header("accept")
        if "as=Table" in accept:
            table = self._as_table(req, info, doc)
            if table is not None:
                return Response(code, table)
        if "as=PartialObjectMetadata" in accept:
            return Response(code, _partial(doc))
        return Response(code, doc)

    def _as_table(self, req: Request, info: ResourceInfo, doc: dict[str, Any]) -> dict[str, Any] | None:
        try:
            from tfcontroller.dev.cluster import table
        except ImportError:
            return None
        include = dict(p.split("=", 1) for p in urlsplit(req.target).query.split("&") if "=" in p).get(
            "includeObject", "Metadata"
        )
        return table.to_table(info, doc, include)

    # ------------------------------------------------------------------ verbs
    def _verb_get(self, req: Request, query: dict[str, str], t: Target) -> Response:
        obj = self.api.get(t.info, t.namespace, t.name or "")
        if _converted(req):
            return self._rendered(req, t.info, obj)
        return Response(200, self.api.encode_object(t.info, obj))  # serialised once per version, by the store

    def _verb_list_or_watch(self, req: Request, query: dict[str, str], t: Target) -> Response | WatchResponse:
        if _truthy(query.get("watch")):
            return self._verb_watch(req, query, t)
        doc = self.api.list(
            t.info,
            t.namespace,
            query.get("labelSelector"),
            query.get("fieldSelector"),
            _int_param(query, "limit"),
            query.get("continue") or None,
            query.get("resourceVersion"),
            query.get("resourceVersionMatch"),
        )
        if _converted(req):
            return self._rendered(req, t.info, doc)
        return Response(200, self.api.encode_list(t.info, doc))  # items serialised once, by the store

    def _verb_watch(self, req: Request, query: dict[str, str], t: Target) -> WatchResponse:
        timeout = float(_int_param(query, "timeoutSeconds") or DEFAULT_WATCH_TIMEOUT)
        bookmarks = self.bookmark_interval if _truthy(query.get("allowWatchBookmarks")) else None
        events = self.api.watch(
            t.info,
            t.namespace,
            query.get("labelSelector"),
            query.get("fieldSelector"),
            query.get("resourceVersion"),
            timeout,
            bookmarks,
            self.stop,
        )
        if "as=Table" in req.header("accept"):
            return WatchResponse(self._table_events(req, t.info, events))
        return WatchResponse(self._encoded_events(t.info, events))

    def _encoded_events(self, info: ResourceInfo, events: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any] | bytes]:
        """Object events as JSON with the object's bytes from the store's cache (serialised once, however
        many watchers and lists send it); ERROR and BOOKMARK events as they are."""
        for event in events:
            if event["type"] in ("ADDED", "MODIFIED", "DELETED"):
                yield b'{"type":"%s","object":%s}' % (event["type"].encode(), self.api.encode_object(info, event["object"]))
            else:
                yield event

    def _table_events(self, req: Request, info: ResourceInfo, events: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for event in events:
            if event["type"] in ("ADDED", "MODIFIED", "DELETED"):
                table = self._as_table(req, info, event["object"])
                if table is not None:
                    event = {"type": event["type"], "object": table}
            yield event

    def _verb_create(self, req: Request, query: dict[str, str], t: Target) -> Response:
        if t.info.namespaced and t.namespace is None:
            raise errors.method_not_allowed()
        fv = _field_validation(query)
        obj = self.api.create(t.info, t.namespace, self._body(req), _dry_run(query), _manager(req, query), fv)
        return _with_warnings(Response(201, obj), fv)

    def _verb_update(self, req: Request, query: dict[str, str], t: Target) -> Response:
        fv = _field_validation(query)
        code, obj = self.api.update(
            t.info, t.namespace, t.name or "", self._body(req), t.subresource, _dry_run(query), _manager(req, query), fv,
            self._create_check(req, query, t),
        )
        return _with_warnings(Response(code, obj), fv)

    def _create_check(self, req: Request, query: dict[str, str], t: Target) -> Callable[[], None]:
        """The `create` authorisation of this PUT or PATCH, run by the Api only if the write creates."""
        assert t.user is not None
        return self.authz.create_check(authz.resource_attributes(
            t.user, req.method, query, t.info.group, t.info.plural, t.namespace, t.name, t.subresource))

    def _verb_patch(self, req: Request, query: dict[str, str], t: Target) -> Response:
        content_type = req.header("content-type").split(";")[0].strip()
        fv = _field_validation(query)
        code, obj = self.api.patch(
            t.info,
            t.namespace,
            t.name or "",
            content_type,
            req.body,
            t.subresource,
            _manager(req, query) if content_type != APPLY_PATCH else query.get("fieldManager"),
            _truthy(query.get("force")),
            _dry_run(query),
            fv,
            self._create_check(req, query, t),
        )
        return _with_warnings(Response(code, obj), fv)

    def _delete_options(self, req: Request, query: dict[str, str]) -> dict[str, Any]:
        options = self._body(req) if req.body.strip() else {}
        if not isinstance(options, dict):
            raise errors.bad_request("DeleteOptions must be an object")
        if query.get("propagationPolicy"):
            options["propagationPolicy"] = query["propagationPolicy"]
        if query.get("gracePeriodSeconds") and "gracePeriodSeconds" not in options:  # the Python client sends it here
            try:
                options["gracePeriodSeconds"] = int(query["gracePeriodSeconds"])
            except ValueError:
                raise errors.bad_request(f'gracePeriodSeconds: Invalid value: "{query["gracePeriodSeconds"]}"') from None
        if query.get("orphanDependents") and "propagationPolicy" not in options:
            options["orphanDependents"] = query["orphanDependents"] == "true"
        return options

    def _verb_delete(self, req: Request, query: dict[str, str], t: Target) -> Response:
        obj = self.api.delete(t.info, t.namespace, t.name or "", self._delete_options(req, query), _dry_run(query))
        return Response(200, obj)

    def _verb_delete_collection(self, req: Request, query: dict[str, str], t: Target) -> Response:
        doc = self.api.delete_collection(
            t.info,
            t.namespace,
            query.get("labelSelector"),
            query.get("fieldSelector"),
            self._delete_options(req, query),
            _dry_run(query),
        )
        return Response(200, doc)


def _manager(req: Request, query: dict[str, str]) -> str:
    """fieldManager, or what the real server defaults it to: the User-Agent up to its first '/'."""
    return query.get("fieldManager") or req.header("user-agent").split("/")[0][:128] or "unknown"


def _field_validation(query: dict[str, str]) -> FieldValidation:
    return FieldValidation(fieldvalidation.parse_directive(query.get("fieldValidation")))


def _with_warnings(resp: Response, fv: FieldValidation) -> Response:
    header = fv.warning_header()
    if header is not None:
        resp.headers["Warning"] = header
    return resp


def _int_param(query: dict[str, str], name: str) -> int:
    try:
        return int(query.get(name) or 0)
    except ValueError:
        raise errors.bad_request(f"invalid value for {name}: {query[name]!r}") from None


def _is_resource_path(parts: list[str]) -> bool:
    """Whether the path names a resource (/api/v1/R..., /apis/G/V/R...), else a non-resource URL."""
    return (len(parts) >= 3 and parts[0] == "api") or (len(parts) >= 4 and parts[0] == "apis")


def _converted(req: Request) -> bool:
    """Whether the client asked for a Table or PartialObjectMetadata rather than the objects themselves."""
    accept = req.header("accept")
    return "as=Table" in accept or "as=PartialObjectMetadata" in accept


def _dry_run(query: dict[str, str]) -> bool:
    return query.get("dryRun") == "All"


def _partial(doc: dict[str, Any]) -> dict[str, Any]:
    """Metadata-only view, as client-go metadata informers ask for."""

    def one(obj: dict[str, Any]) -> dict[str, Any]:
        return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata", {})}

    if "items" in doc:
        return {
            "kind": "PartialObjectMetadataList",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": doc.get("metadata", {}),
            "items": [one(o) for o in doc["items"]],
        }
    return one(doc)
