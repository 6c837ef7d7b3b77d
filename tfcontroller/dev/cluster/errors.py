"""API errors as the real API server reports them: a `Status` object with reason, code and details.

Clients branch on `reason` and `code` (kubectl prints `message`; client-go maps 409 AlreadyExists vs
Conflict by `reason`), so each constructor mirrors the wording of kube-apiserver.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.metadata: dict[str, Any] = {}  # the Status' ListMeta, e.g. a continue token with a 410

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": dict(self.metadata),
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


def _details(group: str, resource: str, name: str) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name, "kind": resource}
    if group:
        details["group"] = group
    return details


def _qualified(group: str, resource: str) -> str:
    return f"{resource}.{group}" if group else resource


def not_found(group: str, resource: str, name: str) -> ApiError:
    return ApiError(
        404, "NotFound", f'{_qualified(group, resource)} "{name}" not found', _details(group, resource, name)
    )


def already_exists(group: str, resource: str, name: str) -> ApiError:
    return ApiError(
        409,
        "AlreadyExists",
        f'{_qualified(group, resource)} "{name}" already exists',
        _details(group, resource, name),
    )


def conflict(group: str, resource: str, name: str, why: str) -> ApiError:
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {_qualified(group, resource)} "{name}": {why}',
        _details(group, resource, name),
    )


STALE = "the object has been modified; please apply your changes to the latest version and try again"


def invalid(group: str, kind: str, name: str, causes: list[tuple[str, str]],
            reasons: list[str] | None = None) -> ApiError:
    """422 Invalid; `causes` are (field path, message) pairs, the way validation reports them, and
    `reasons` their cause reasons (FieldValueRequired, ...; FieldValueInvalid when not given)."""
    reasons = reasons or ["FieldValueInvalid"] * len(causes)
    qualified = f"{kind}.{group}" if group else kind
    listed = ", ".join(f"{field}: {msg}" if field else msg for field, msg in causes)
    if len(causes) > 1:
        listed = f"[{listed}]"
    details: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "causes": [{"reason": reason, "message": msg, "field": field}
                   for (field, msg), reason in zip(causes, reasons, strict=True)],
    }
    if group:
        details["group"] = group
    return ApiError(422, "Invalid", f'{qualified} "{name}" is invalid: {listed}', details)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def forbidden(message: str, group: str = "", resource: str = "", name: str = "") -> ApiError:
    return ApiError(403, "Forbidden", message, _details(group, resource, name) if resource else None)


def method_not_allowed(message: str = "the server does not allow this method on the requested resource") -> ApiError:
    return ApiError(405, "MethodNotAllowed", message)


def unsupported_media_type(content_type: str) -> ApiError:
    return ApiError(415, "UnsupportedMediaType", f'the body of the request was in an unknown format - accepted media types include: application/json, application/yaml (got "{content_type}")')


def gone(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")


def path_not_found(path: str) -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource", {"causes": [{"reason": "UnexpectedServerResponse", "message": f"404 page not found: {path}"}]})


def success_status(group: str, resource: str, name: str, uid: str = "") -> dict[str, Any]:
    details = _details(group, resource, name)
    if uid:
        details["uid"] = uid
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}
