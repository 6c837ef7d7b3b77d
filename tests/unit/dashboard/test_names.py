"""Names that come from a URL (dashboard/pages.py `checked`): only a namespace that is an RFC 1123 label
and a name that is an RFC 1123 subdomain reach an API path; anything else (`..`, a slash, upper case, too
long, markup) is a 404 before any request, because the client does not quote path segments."""

from __future__ import annotations

import pytest

from tfcontroller.dashboard.pages import checked, checked_route
from tfcontroller.kube.errors import NotFound


@pytest.mark.parametrize(("namespace", "name", "ok"), [
    ("team-a", "bucket", True), ("team-a", "a.b-c", True), ("a" * 63, "x" * 253, True), ("team-a", None, True),
    ("..", "x", False), ("a/b", "x", False), ("team-a", "..", False), ("team-a", "a..b", False),
    ("team-a", "a/b", False), ("Team", "x", False), ("a" * 64, "x", False), ("team-a", "x" * 254, False),
    ("<script>", None, False), ("", None, False), ("team-a", "", False),
    ("team-a\n", None, False), ("team-a", "net\n", False), ("team-a", "<b>x</b>", False), ("team-a", "%2e%2e", False),
    ("team-a", ".net", False), ("team-a", "net.", False),
])
def test_names_from_the_url_are_checked_before_they_reach_a_path(namespace: str, name: str | None, ok: bool) -> None:
    if ok:
        checked(namespace, name)
    else:
        with pytest.raises(NotFound):
            checked(namespace, name)


@pytest.mark.parametrize(("args", "ok"), [
    ({}, True), ({"filename": "../x"}, True),  # a route without names (static files check their own)
    ({"namespace": "team-a", "name": "net"}, True), ({"kind": "terraform", "namespace": "team-a", "name": "n"}, True),
    ({"namespace": "team-a", "name": ".."}, False), ({"namespace": "..", "name": "net"}, False),
    ({"namespace": "team-a"}, True), ({"namespace": "a/b"}, False), ({"name": "net"}, False),
])
def test_every_route_checks_the_names_it_took_from_its_url(args: dict[str, str], ok: bool) -> None:
    if ok:
        checked_route(args)
    else:
        with pytest.raises(NotFound):
            checked_route(args)
