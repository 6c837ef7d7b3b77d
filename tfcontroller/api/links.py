"""Links into the dashboard from outside it (issue 19: a plan-pending notification links to the plan's page).

Why here: the notification controller builds the link, the dashboard serves the page, and neither may import
the other (.importlinter: the dashboard never imports the controllers). The one route both agree on is the
dashboard's `terraform_page` (`/terraform/<namespace>/<name>`, dashboard/app.py PAGES), where the pending
plan, its diff and the approve button are; a unit test checks that the route still matches this function.
"""

from __future__ import annotations

from urllib.parse import quote

TERRAFORM_PAGE = "/terraform/{namespace}/{name}"


def plan_page_url(base: str, namespace: str, name: str) -> str:
    """`<base>/terraform/<ns>/<name>`: the page of a Terraform with its pending plan, under the dashboard's
    external URL (`--external-url`, given to the controller as `--dashboard-url`); "" when `base` is empty
    (no dashboard deployed: no link). Names are path-quoted (they are DNS labels; quoting costs nothing)."""
    if not base.strip():
        return ""
    path = TERRAFORM_PAGE.format(namespace=quote(namespace, safe=""), name=quote(name, safe=""))
    return base.strip().rstrip("/") + path
