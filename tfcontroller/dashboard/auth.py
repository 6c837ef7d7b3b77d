"""Who the request is, before anything else runs.

**local**: the dashboard acts with the kubeconfig's identity. The URL it prints carries a random one-time
token (`/?token=…`, like Jupyter's): the first request with it opens a session and the token is spent,
so another user of the same machine, who can reach 127.0.0.1 too, cannot act as you.
**in-cluster**: the login page takes a bearer token (a ServiceAccount token or an OIDC id token); the
dashboard's own identity has the API server review it (TokenReview); the session keeps the username, uid
and groups the API server answered — never the token — and every API call of that viewer is made
impersonating them, so the viewer sees and does exactly what their RBAC allows.

A request without a valid session is sent to the login page (a page), or answered 401 (a live stream,
a fragment, an action). `Viewer`s are made here, once per request.
"""

from __future__ import annotations

import hmac
import threading
import time
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from flask import g, request, session

from tfcontroller.dashboard.settings import DashboardSettings
from tfcontroller.dashboard.viewer import Viewer
from tfcontroller.kube.reviews import UserInfo, token_review, whoami

# Groups the API server adds to every authenticated request itself: impersonating them would need a
# permission the dashboard does not have to hold.
IMPLICIT_GROUPS = frozenset({"system:authenticated"})
SESSION_USER = "user"
SESSION_EXPIRES = "expires"
LIVE_ENDPOINT = "live"


@dataclass(frozen=True)
class SessionUser:
    """What a session cookie holds about its viewer (signed, not secret: no token, no key)."""

    username: str
    uid: str
    groups: tuple[str, ...]
    # When the token the viewer logged in with expires (epoch seconds; None: not a JWT, or no `exp`): the
    # session ends then too, so a revoked-by-expiry token does not live on in a cookie.
    not_after: float | None = None

    def to_session(self) -> dict[str, Any]:
        return {"username": self.username, "uid": self.uid, "groups": list(self.groups)}

    @classmethod
    def of(cls, doc: Any) -> SessionUser | None:
        if not isinstance(doc, dict) or not doc.get("username"):
            return None
        return cls(str(doc["username"]), str(doc.get("uid") or ""), tuple(str(x) for x in doc.get("groups") or []))

    @classmethod
    def from_info(cls, info: UserInfo) -> SessionUser:
        return cls(info.username, info.uid, tuple(info.groups))


class OneTimeToken:
    """Local mode's login token: accepted once, compared in constant time; thread-safe."""

    def __init__(self, token: str | None) -> None:
        self._token = token
        self._lock = threading.Lock()

    def spend(self, offered: str) -> bool:
        with self._lock:
            if not self._token or not offered or not hmac.compare_digest(self._token.encode(), offered.encode()):
                return False
            self._token = None
            return True


class LocalIdentity:
    """The kubeconfig's user as the API server sees it (SelfSubjectReview), asked once."""

    def __init__(self, settings: DashboardSettings) -> None:
        self._settings = settings
        self._user: SessionUser | None = None
        self._lock = threading.Lock()

    def user(self) -> SessionUser:
        with self._lock:
            if self._user is None:
                self._user = SessionUser.from_info(whoami(self._settings.client))
            return self._user


def open_session(user: SessionUser, settings: DashboardSettings) -> None:
    """A fresh session for `user` (the old one, and its CSRF token, are dropped: no session fixation). It ends
    after `--session-lifetime`, or when the login token expires if that is sooner."""
    session.clear()
    session.permanent = True
    session[SESSION_USER] = user.to_session()
    session[SESSION_EXPIRES] = session_end(time.time(), settings.session_lifetime.total_seconds(), user.not_after)


def session_end(now: float, lifetime: float, not_after: float | None) -> int:
    """When a session opened at `now` ends (epoch seconds). Pure."""
    end = now + lifetime
    return int(min(end, not_after) if not_after is not None else end)


def token_expiry(token: str) -> float | None:
    """The `exp` claim of a bearer token that is a JWT (ServiceAccount and OIDC id tokens are), read after
    TokenReview accepted the token — so its signature is not checked here again; None for other tokens."""
    import jwt  # PyJWT

    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    exp = claims.get("exp")
    return float(exp) if isinstance(exp, (int, float)) and not isinstance(exp, bool) else None


def session_user() -> SessionUser | None:
    """The viewer of a live session, or None (absent, malformed or expired)."""
    expires = session.get(SESSION_EXPIRES)
    if not isinstance(expires, int) or expires <= time.time():
        return None
    return SessionUser.of(session.get(SESSION_USER))


def session_expiry() -> float:
    """When the current session ends (epoch seconds; 0 without one)."""
    expires = session.get(SESSION_EXPIRES)
    return float(expires) if isinstance(expires, int) else 0.0


def verify_token(settings: DashboardSettings, token: str) -> SessionUser | None:
    """In-cluster login: whose bearer token this is, by TokenReview; None when not authenticated."""
    token = token.strip()
    info = token_review(settings.client, token, settings.token_audiences)
    if info is None or not info.username:
        return None
    return replace(SessionUser.from_info(info), not_after=token_expiry(token))


def viewer_for(user: SessionUser, settings: DashboardSettings) -> Viewer:
    """The request's Viewer: locally the kubeconfig's own client; in-cluster a client impersonating the
    session's user and groups."""
    if settings.in_cluster:
        groups = tuple(grp for grp in user.groups if grp not in IMPLICIT_GROUPS)
        client = settings.client.impersonating(user.username, groups)
    else:
        client = settings.client
    return Viewer(client, user.username, user.groups, settings.default_namespace)


def wants_html_page() -> bool:
    """A navigation the login page can answer (not a live stream, a fragment or an action)."""
    return (request.method == "GET" and request.endpoint != LIVE_ENDPOINT and request.headers.get("X-Fragment") != "1"
            and "text/event-stream" not in request.headers.get("Accept", ""))


def login_url(next_path: str) -> str:
    return "/login?" + urlencode({"next": next_path})


def safe_next(value: str | None) -> str:
    """Where to go after login: a path of this site only (an open redirect would be a phishing aid). Pure.

    Browsers remove tabs and newlines from a URL and read `\\` as `/` (WHATWG URL parsing), so `/\t/evil`
    is `//evil`, another site: a value with any control character, whitespace or backslash is refused, as is
    one that parses with a scheme or a host. What is left is percent-encoded where the URL standard would not
    keep it literally."""
    if not value or not value.startswith("/") or value.startswith("//"):
        return "/"
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F or ch == "\\" for ch in value):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/"
    return quote(value, safe="/?=&%:@!$'()*+,;~-._")


def current_viewer() -> Viewer:
    """The Viewer of this request; routes run only after `auth.require_viewer` set it."""
    viewer: Viewer = g.viewer
    return viewer
