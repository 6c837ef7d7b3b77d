"""Resource addresses of spec.targets, spec.replace and the tfcontroller.io/replace annotation (issue 20):
Terraform's grammar accepted in its forms (modules, instance keys, data sources for targets), and every
kind of bad value refused with a reason — above all anything that could become another argument."""

from __future__ import annotations

import pytest

from tfcontroller.api.tfaddress import replace_problem, split_addresses, split_request, target_problem

GOOD_INSTANCES = ["aws_instance.web", "aws_instance.web[0]", 'aws_instance.web["blue"]', 'a.b["x,y"]',
                  "module.app.aws_instance.web", 'module.app["eu"].module.db[2].aws_db_instance.main[1]',
                  "terraform_data.x-y_z", 'a.b["with \\" quote"]']
GOOD_TARGETS_ONLY = ["module.network", 'module.network["a"]', "module.a.module.b", "data.aws_ami.ubuntu",
                     "module.a.data.aws_ami.ubuntu[0]"]
BAD = ["", "-target=x", "--destroy", "aws_instance", "aws_instance.web extra", "aws_instance.web\n-destroy",
       "aws_instance.web[", "aws_instance.web[x]", "aws_instance.web['single']", "1abc.web", "module.",
       "module.app.", ".aws_instance.web", "aws_instance..web", "a.b.c", "a.b[0][1]", "x" * 1100]


@pytest.mark.parametrize("address", GOOD_INSTANCES + GOOD_TARGETS_ONLY)
def test_targets_accept_resources_instances_modules_and_data_sources(address: str) -> None:
    assert target_problem(address) == ""


@pytest.mark.parametrize("address", GOOD_INSTANCES)
def test_replace_accepts_managed_resource_instances(address: str) -> None:
    assert replace_problem(address) == ""


@pytest.mark.parametrize("address", GOOD_TARGETS_ONLY)
def test_replace_refuses_modules_and_data_sources(address: str) -> None:
    assert "cannot be replaced" in replace_problem(address)


@pytest.mark.parametrize("address", BAD)
def test_both_refuse_what_is_no_address(address: str) -> None:
    assert target_problem(address) and replace_problem(address)


def test_annotation_values_split_on_commas_outside_quoted_keys() -> None:
    assert split_addresses("a.b, c.d[0] ,,") == ("a.b", "c.d[0]")
    assert split_addresses('a.b["x,y"],c.d') == ('a.b["x,y"]', "c.d")
    assert split_addresses('a.b["x\\",y"],c.d') == ('a.b["x\\",y"]', "c.d")
    assert split_addresses("  ") == ()


def test_a_token_follows_the_last_at_sign_outside_quoted_keys() -> None:
    """`<address>[,…][@<token>]` (review s19, finding 7): the token only tells requests apart."""
    assert split_request("a.b,c.d") == (("a.b", "c.d"), "")
    assert split_request("a.b,c.d@1") == (("a.b", "c.d"), "1")
    assert split_request(" a.b , c.d @ 2026-11-30T10:00Z ") == (("a.b", "c.d"), "2026-11-30T10:00Z")
    assert split_request('a.b["x@y"]') == (('a.b["x@y"]',), "")
    assert split_request('a.b["x@y"]@t') == (('a.b["x@y"]',), "t")
    assert split_request('a.b["q\\"@"]@t') == (('a.b["q\\"@"]',), "t")  # an escaped quote keeps the key open
    assert split_request("a.b@") == (("a.b",), "")  # an empty token is no token
    assert split_request("a@b@c") == (("a@b",), "c")  # a stray @ stays in an address, which is then refused
