"""Names that come from a URL (dashboard/pages.py `checked`): only a namespace that is an RFC 1123 label
and a name that is an RFC 1123 subdomain reach an API path; anything else (`..`, a slash, upper case, too
long, markup) is a 404 before any request, because the client does not quote path segments."""

from __future__ import annotations

import pytest

from tfcontroller.dashboard.pages import checked
from tfcontroller.kube.errors import NotFound


@pytest.mark.parametrize(("namespace", "name", "ok"), [
    ("team-a", "bucket", True), ("team-a", "a.b-c", True), ("a" * 63, "x" * 253, True), ("team-a", None, True),
    ("..", "x", False), ("a/b", "x", False), ("team-a", "..", False), ("team-a", "a..b", False),
    ("team-a", "a/b", False), ("Team", "x", False), ("a" * 64, "x", False), ("team-a", "x" * 254, False),
    ("<script>", None, False), ("", None, False), ("team-a", "", False),
])
def test_names_from_the_url_are_checked_before_they_reach_a_path(namespace: str, name: str | None, ok: bool) -> None:
    if ok:
        checked(namespace, name)
    else:
        with pytest.raises(NotFound):
            checked(namespace, name)
