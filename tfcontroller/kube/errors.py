"""Typed API errors: one exception class per HTTP status the controllers act on.

Callers branch on the type (`except NotFound`) instead of comparing status codes, and no caller has to
look inside a response body. Messages are built only from the API server's `Status.message` and the
request's resource/name — never from request bodies — so Secret data cannot leak into an exception.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Cause:
    """One entry of `Status.details.causes` (a 422 names the offending field here)."""

    field: str
    reason: str
    message: str


class ApiError(Exception):
    """Any unexpected answer from the API server (or no answer at all: status 0)."""

    def __init__(self, status: int, reason: str, message: str, causes: list[Cause] | None = None) -> None:
        super().__init__(f"{status} {reason}: {message}" if status else message)
        self.status = status
        self.reason = reason
        self.message = message
        self.causes: list[Cause] = causes or []


class NotFound(ApiError):
    """404: the object (or its kind) does not exist."""


class Conflict(ApiError):
    """409 with a stale resourceVersion: re-read and try again."""


class AlreadyExists(Conflict):
    """409 on create: an object with that name exists."""


class Unprocessable(ApiError):
    """422: the object failed validation; `causes` name the fields."""


class Forbidden(ApiError):
    """403: RBAC (or impersonation) refused the request."""


class Unauthorized(ApiError):
    """401: credentials missing or wrong."""


class TooManyRequests(ApiError):
    """429: back off; `retry_after` carries the server's hint in seconds when it gave one."""

    def __init__(self, *args: Any, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.retry_after = retry_after


class Gone(ApiError):
    """410: a watch's resourceVersion is too old; the caller must list again."""


@dataclass
class _StatusView:
    message: str = ""
    reason: str = ""
    causes: list[Cause] = field(default_factory=list)


def _parse_status(body: bytes | str | None) -> _StatusView:
    if not body:
        return _StatusView()
    try:
        doc = json.loads(body)
    except (ValueError, TypeError):
        return _StatusView()
    if not isinstance(doc, dict) or doc.get("kind") != "Status":
        return _StatusView()
    details = doc.get("details") or {}
    causes = [
        Cause(field=str(c.get("field", "")), reason=str(c.get("reason", "")), message=str(c.get("message", "")))
        for c in details.get("causes") or []
        if isinstance(c, dict)
    ]
    return _StatusView(message=str(doc.get("message", "")), reason=str(doc.get("reason", "")), causes=causes)


def error_from_status(status: int, body: bytes | str | None, what: str, retry_after: str | None = None) -> ApiError:
    """Build the typed error for an HTTP answer. `what` names the request (verb, resource, name)."""
    view = _parse_status(body)
    message = view.message or what
    reason = view.reason
    if status == 404:
        return NotFound(status, reason or "NotFound", message)
    if status == 409:
        if reason == "AlreadyExists":
            return AlreadyExists(status, reason, message)
        return Conflict(status, reason or "Conflict", message)
    if status == 422:
        return Unprocessable(status, reason or "Invalid", message, view.causes)
    if status == 403:
        return Forbidden(status, reason or "Forbidden", message)
    if status == 401:
        return Unauthorized(status, reason or "Unauthorized", message)
    if status == 410:
        return Gone(status, reason or "Expired", message)
    if status == 429:
        hint: float | None = None
        if retry_after:
            try:
                hint = float(retry_after)
            except ValueError:
                hint = None
        return TooManyRequests(status, reason or "TooManyRequests", message, retry_after=hint)
    return ApiError(status, reason or "Error", message, view.causes)


def error_from_watch_status(obj: dict[str, Any]) -> ApiError:
    """An `ERROR` watch event carries a Status object instead of an HTTP status line."""
    code = int(obj.get("code") or 500)
    return error_from_status(code, json.dumps(obj), "watch")
