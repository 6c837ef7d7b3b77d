"""The dashboard's Flask application: routes to the pages, the actions, the live streams, the login,
and what every answer carries (security headers, the viewer, the CSRF token).

Order of the checks on each request: authentication first (`_authenticate`: a session, or local mode's
one-time token, or the login page), then Flask-WTF's CSRF check on every POST, then the route. API errors
raised by a page or an action become the error page with the API's own message: 403 names what the
viewer may not do, 404 what does not exist. A request with `X-Fragment: 1` (static/live.js) gets only the
inner HTML of `<main id="main">`: templates render with `fragment` true and leave the frame out.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from flask import Flask, current_app, g, redirect, render_template, request, session, url_for
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import NotFound as RouteNotFound
from werkzeug.wrappers import Response

from tfcontroller.dashboard import actions, live, pages
from tfcontroller.dashboard.auth import (
    LIVE_ENDPOINT,
    LocalIdentity,
    OneTimeToken,
    current_viewer,
    login_url,
    open_session,
    safe_next,
    session_expiry,
    session_user,
    verify_token,
    viewer_for,
    wants_html_page,
)
from tfcontroller.dashboard.session import cookie_config
from tfcontroller.dashboard.settings import DashboardSettings, host_name, is_loopback
from tfcontroller.dashboard.viewer import Viewer
from tfcontroller.kube.client import CONNECTION_FAILED
from tfcontroller.kube.errors import ApiError, Forbidden, NotFound, Unauthorized
from tfcontroller.operations.errors import OperationRefused

EXTENSION = "tfcontroller_dashboard"
PUBLIC_ENDPOINTS = frozenset({"static", "login", "login_submit", "healthz"})
MAX_FORM_BYTES = 64 * 1024

# Every answer: no script but ours (no inline script, no CDN), never framed, no Referer to other sites.
SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}

PageBuilder = Callable[[Viewer, dict[str, str], MultiDict[str, str]], pages.Page]


def _opt(query: MultiDict[str, str], key: str) -> str | None:
    return query.get(key) or None


# endpoint -> (URL rule, how the page function is called with the route's and the query's arguments)
PAGES: dict[str, tuple[str, PageBuilder]] = {
    "overview": ("/", lambda v, a, q: pages.overview(v, _opt(q, "namespace"), _opt(q, "kind"), _opt(q, "state"))),
    "terraform_page": ("/terraform/<namespace>/<name>", lambda v, a, q: pages.terraform(v, a["namespace"], a["name"])),
    "manifestset_page": ("/manifestset/<namespace>/<name>",
                         lambda v, a, q: pages.manifestset(v, a["namespace"], a["name"])),
    "gitrepository_page": ("/gitrepository/<namespace>/<name>",
                           lambda v, a, q: pages.gitrepository(v, a["namespace"], a["name"])),
    "graph": ("/graph", lambda v, a, q: pages.graph(v, _opt(q, "namespace"))),
}


@dataclass
class DashboardState:
    """Per-app state beside Flask's config: the settings, local mode's token and identity, and the event
    that tells live streams the server is stopping."""

    settings: DashboardSettings
    token: OneTimeToken
    identity: LocalIdentity
    stopping: threading.Event = field(default_factory=threading.Event)
    streams: live.StreamSlots | None = None

    def __post_init__(self) -> None:
        if self.streams is None:
            self.streams = live.StreamSlots(self.settings.live_streams, self.settings.live_streams_per_viewer)


def state_of(app: Flask) -> DashboardState:
    state: DashboardState = app.extensions[EXTENSION]
    return state


def _state() -> DashboardState:
    return state_of(current_app)


def create_app(settings: DashboardSettings) -> Flask:
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=MAX_FORM_BYTES,
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session (which expires)
        # the Referer check of Flask-WTF over https cannot pass: every answer says Referrer-Policy: no-referrer;
        # the token and SameSite=Strict are what protect the actions
        WTF_CSRF_SSL_STRICT=False,
        **cookie_config(secure=settings.secure, lifetime_seconds=settings.session_lifetime.total_seconds()),
    )
    app.extensions[EXTENSION] = DashboardState(settings, OneTimeToken(settings.login_token), LocalIdentity(settings))
    app.before_request(_authenticate)  # before CSRFProtect's own hook: no session answers 401, not 403
    app.before_request(_check_url_names)  # an invalid name is 404 before the CSRF check or any API call
    CSRFProtect(app)
    app.after_request(_headers)
    app.context_processor(_template_context)
    _register_pages(app)
    _register_session_routes(app)
    app.add_url_rule("/live", LIVE_ENDPOINT, _live)
    app.add_url_rule("/healthz", "healthz", lambda: Response("ok\n", mimetype="text/plain"))
    app.register_blueprint(actions.bp)
    _register_errors(app)
    return app


# ---- authentication ------------------------------------------------------------------------------------


def _without_token() -> str:
    query = [(k, v) for k, v in parse_qsl(urlsplit(request.full_path).query, keep_blank_values=True) if k != "token"]
    return request.path + (f"?{urlencode(query)}" if query else "")


def _authenticate() -> Response | None:
    state = _state()
    settings = state.settings
    if not settings.in_cluster and not is_loopback(host_name(request.host)):
        # DNS rebinding: another site's page whose name now points at 127.0.0.1 must not reach the
        # dashboard that acts with your identity (its cookie would not be sent, but refuse outright)
        return _error(403, "Host not allowed",
                      f"Local mode answers only requests for 127.0.0.1, ::1 or localhost, not {request.host!r}.")
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if not settings.in_cluster and "token" in request.args:
        return _login_link(state)
    user = session_user()
    if user is None:
        return _no_session(settings)
    g.viewer = viewer_for(user, settings)
    return None


def _login_link(state: DashboardState) -> Response:
    """Local mode's login link. Its first use opens a session; a later use (a reload, a bookmark, the link
    opened again) in a browser that holds a live session goes to the same page without the token — the
    token stays spent and is useless without that session — and anywhere else answers 401."""
    if state.token.spend(request.args["token"]):
        open_session(state.identity.user(), state.settings)
        return redirect(_without_token(), 303)
    if session_user() is not None:
        return redirect(_without_token(), 303)
    return _error(401, "Login link already used",
                  "This login link was used already (or is wrong): each link opens one session. Use the "
                  "browser window it opened, or restart `tfcontroller dashboard` for a new link.")


def _check_url_names() -> None:
    """Every route that takes a namespace or name from the URL (pages, actions) refuses one that cannot be
    a Kubernetes name (404) before any API call: `pages.checked`, the one rule, also applied to the page a
    live stream names (`page_targets`)."""
    pages.checked_route(request.view_args or {})


def _no_session(settings: DashboardSettings) -> Response:
    """A request without a live session. A link followed from another site (chat, email, a wiki) arrives
    without the cookie — that is what `SameSite=Strict` means — so such a navigation gets a page that loads
    the same URL again from this site, with the cookie; only then is the viewer sent to log in."""
    if wants_html_page() and request.headers.get("Sec-Fetch-Site") == "cross-site":
        response = Response(render_template("reload.html", target=safe_next(request.full_path.rstrip("?"))),
                            mimetype="text/html")
        response.headers["Cache-Control"] = "no-store"
        return response
    if settings.in_cluster and wants_html_page():
        return redirect(login_url(request.full_path.rstrip("?")), 303)
    how = ("log in again" if settings.in_cluster else
           "open the link `tfcontroller dashboard` printed (restart it for a new one)")
    return _error(401, "Not logged in", f"Your session is missing or expired: {how}.")


def _register_session_routes(app: Flask) -> None:
    app.add_url_rule("/login", "login", _login_form, methods=["GET"])
    app.add_url_rule("/login", "login_submit", _login_submit, methods=["POST"])
    app.add_url_rule("/logout", "logout", _logout, methods=["POST"])


def _login_form() -> Response | str:
    settings = _state().settings
    if not settings.in_cluster:
        return _error(401, "Log in with the link",
                      "This dashboard runs locally with your kubeconfig's identity: open the link "
                      "`tfcontroller dashboard` printed (restart it for a new one).")
    return render_template("login.html", next=safe_next(request.args.get("next")), message="")


def _login_submit() -> Response | tuple[str, int]:
    settings = _state().settings
    if not settings.in_cluster:
        return _error(404, "No login here", "Local mode logs in with the link `tfcontroller dashboard` printed.")
    target = safe_next(request.form.get("next"))
    token = request.form.get("token") or ""
    user = verify_token(settings, token) if token.strip() else None
    if user is None:
        message = ("The API server did not accept this token (expired, revoked or not a token of this cluster). "
                   "Paste a current ServiceAccount token (kubectl create token NAME) or an OIDC id token.")
        return render_template("login.html", next=target, message=message), 401
    open_session(user, settings)
    return redirect(target, 303)


def _logout() -> Response:
    session.clear()
    if _state().settings.in_cluster:
        return redirect(url_for("login"), 303)
    return _error(200, "Logged out", "You are logged out. Restart `tfcontroller dashboard` for a new login link.")


# ---- pages -----------------------------------------------------------------------------------------------


def is_fragment() -> bool:
    return request.headers.get("X-Fragment") == "1"


def _page_view(endpoint: str) -> Callable[..., Response]:
    build = PAGES[endpoint][1]

    def view(**args: str) -> Response:
        page = build(current_viewer(), args, request.args)
        g.live_targets = page.watch  # live_url: the stream starts from the versions this render showed
        response = Response(render_template(page.template, **page.context, fragment=is_fragment()),
                            mimetype="text/html")
        response.headers["Vary"] = "X-Fragment"
        if is_fragment():  # live.js reopens a broken stream from what the swapped-in content showed
            response.headers["X-Live-URL"] = live_url() or ""
        return response

    view.__name__ = endpoint
    return view


def _register_pages(app: Flask) -> None:
    for endpoint, (rule, _) in PAGES.items():
        app.add_url_rule(rule, endpoint, _page_view(endpoint))


def page_targets(app: Flask, viewer: Viewer, path: str) -> list[Any]:
    """What the page at `path` (with its query) watches: the page function is asked, as the viewer."""
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in path):
        # urlsplit drops tabs and line breaks: "/terraform/ns/net\n" must not become net's stream
        raise RouteNotFound("no page at a path with control characters")
    parts = urlsplit(path)
    try:
        endpoint, args = app.url_map.bind("dashboard").match(parts.path, "GET")
    except HTTPException:
        raise RouteNotFound(f"no page at {parts.path}") from None
    if endpoint not in PAGES:
        raise RouteNotFound(f"no live page at {parts.path}")
    names = {k: str(v) for k, v in args.items()}
    pages.checked_route(names)  # the stream's page names are checked as the page's own route checks them
    query: MultiDict[str, str] = MultiDict(parse_qsl(parts.query, keep_blank_values=True))
    return list(PAGES[endpoint][1](viewer, names, query).watch)


def _live() -> Response:
    state = _state()
    viewer = current_viewer()
    targets = page_targets(current_app, viewer, request.args.get("path") or "/")
    slots = state.streams
    assert slots is not None
    if not slots.acquire(viewer.username):
        # the browser's EventSource retries after `retry`; the page itself works without live updates
        busy = Response(b"retry: 30000\n\n", status=503, mimetype="text/event-stream")
        busy.headers["Retry-After"] = "30"
        return busy
    try:
        feed = live.ChangeFeed(viewer.client, targets, live.parse_since(request.args.getlist("since"))).start()
    except BaseException:
        slots.release(viewer.username)
        raise
    body = live.event_stream(feed, debounce=state.settings.live_debounce, heartbeat=state.settings.live_heartbeat,
                             gone=live.client_gone(request.environ, state.stopping, session_expiry()))
    response = Response(live.released(body, slots, viewer.username), mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"  # a proxy in front must not hold events back
    return response


def live_url() -> str | None:
    """The live stream of the page being rendered (None for other answers), carrying the resourceVersions
    this render read, so that the stream starts from what the page shows. An error page in place of a page
    (403, 404) has none: its stream would fail the same way and the browser would reconnect for ever."""
    if request.endpoint not in PAGES or g.get("live_targets") is None:
        return None
    path = request.full_path.rstrip("?")
    return url_for("live", path=path, since=live.since_params(g.get("live_targets") or []))


def _template_context() -> dict[str, Any]:
    settings = _state().settings
    return {"viewer": g.get("viewer"), "mode": settings.mode, "live_url": live_url(),
            "external_url": settings.external_url, "fragment": is_fragment()}


def _headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if response.mimetype == "text/html":
        response.headers.setdefault("Cache-Control", "no-store")  # pages show live state and a CSRF token
    return response


# ---- errors -------------------------------------------------------------------------------------------


def _error(status: int, title: str, message: str) -> Response:
    response = Response(render_template("error.html", status=status, title=title, message=message), status=status,
                        mimetype="text/html")
    return response


def _register_errors(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_refused(exc: CSRFError) -> Response:
        return _error(403, "Refused: the form's CSRF token is missing or wrong",
                      f"{exc.description} Reload the page and try again.")

    @app.errorhandler(Forbidden)
    def forbidden(exc: Forbidden) -> Response:
        return _error(403, "Not allowed", exc.message)

    @app.errorhandler(NotFound)
    def not_found(exc: NotFound) -> Response:
        return _error(404, "Not found", exc.message)

    @app.errorhandler(OperationRefused)
    def refused(exc: OperationRefused) -> Response:
        return _error(actions.refusal_status(exc), "Refused", exc.message)

    @app.errorhandler(Unauthorized)
    def api_unauthorized(exc: Unauthorized) -> Response:
        return _error(502, "The API server refused the dashboard's credentials", exc.message)

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError) -> Response:
        if exc.reason == CONNECTION_FAILED:
            return _error(503, "The API server cannot be reached", exc.message)
        return _error(502, f"The API server answered {exc.status} {exc.reason}", exc.message)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        return _error(exc.code or 500, exc.name, exc.description or "")
