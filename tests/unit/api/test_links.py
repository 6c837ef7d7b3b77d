"""api/links.py: the plan page link of a notification points at the dashboard's Terraform page, whatever
form the base URL is given in, and nowhere when no dashboard is configured; the dashboard's route table
still serves that path (the two packages cannot import each other, so this test ties them)."""

from __future__ import annotations

import pytest

from tfcontroller.api.links import TERRAFORM_PAGE, plan_page_url
from tfcontroller.dashboard.app import PAGES


@pytest.mark.parametrize(("base", "want"), [
    ("https://tf.example.com", "https://tf.example.com/terraform/team-a/orders"),
    ("https://tf.example.com/", "https://tf.example.com/terraform/team-a/orders"),
    ("https://example.com/dashboard/", "https://example.com/dashboard/terraform/team-a/orders"),
    ("http://127.0.0.1:8080", "http://127.0.0.1:8080/terraform/team-a/orders"),
    (" https://tf.example.com ", "https://tf.example.com/terraform/team-a/orders"),
])
def test_plan_page_url_joins_base_and_route(base: str, want: str) -> None:
    assert plan_page_url(base, "team-a", "orders") == want


@pytest.mark.parametrize("base", ["", "   "])
def test_no_dashboard_no_link(base: str) -> None:
    assert plan_page_url(base, "team-a", "orders") == ""


def test_names_are_path_quoted() -> None:
    assert plan_page_url("https://x", "a/b", "c d") == "https://x/terraform/a%2Fb/c%20d"


def test_the_dashboard_serves_the_linked_route() -> None:
    rule, _ = PAGES["terraform_page"]
    assert rule.replace("<namespace>", "{namespace}").replace("<name>", "{name}") == TERRAFORM_PAGE
