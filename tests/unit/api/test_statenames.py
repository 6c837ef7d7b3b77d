"""tfcontroller.api.statenames: the rules of Terraform's kubernetes backend for state names, the default
secret suffix (the name whenever Terraform accepts it, a variant it accepts otherwise) and the check of an
explicit suffix. The same verdicts are compared with real `terraform init` in
tests/integration/terraform/test_backend_names.py; here the whole kind is covered on plain strings."""

from __future__ import annotations

import re

import pytest

from tfcontroller.api import statenames as sn
from tfcontroller.api.errors import SpecError
from tfcontroller.api.terraform import Terraform

DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


@pytest.mark.parametrize(("suffix", "refused"), [
    ("vpc-1", True), ("sbx-390", True), ("a-0", True), ("a--7", True), ("a-b-2024", True), ("x-007", True),
    ("a-9223372036854775807", True),  # int64 max: Atoi parses it
    ("a-9223372036854775808", False),  # one more overflows Atoi: Terraform lets it through
    ("a-12345678901234567890123", False),
    ("vpc1", False), ("1", False), ("390", False), ("a-1b", False), ("a-b1", False), ("my.app-1x", False),
    ("net-v1", False), ("a-", False),
])
def test_terraform_numeric_tail_rule(suffix: str, refused: bool) -> None:
    assert sn.terraform_refuses_suffix(suffix) is refused


def test_chunk_names_of_another_state_are_refused() -> None:
    assert "chunk" in sn.backend_problems("default-x-part", "1")[0]  # = tfstate-default-x-part-1
    assert sn.backend_problems("default-x-part", "1b") == []
    suffix = sn.default_secret_suffix("3", "foo-part")
    assert suffix != "3" and sn.backend_problems("foo-part", suffix) == []
    assert sn.default_secret_suffix("3") == "3"


def test_backend_problems_name_every_rule() -> None:
    assert sn.backend_problems("default", "app") == []
    assert sn.backend_problems("prod", "my.app") == []  # dots are fine in a label value and a Secret name
    assert "ends in '-<number>'" in sn.backend_problems("default", "vpc-1")[0]
    assert "label value" in sn.backend_problems("default", "a" * 64)[0]
    assert "label value" in sn.backend_problems("w" * 64, "app")[0]
    assert sn.backend_problems("default", "")[0] == "the secret suffix is empty"
    assert any("DNS-1123" in p for p in sn.backend_problems("default", "App_1x"))


# Every kind of valid object name: short, dotted, numeric tails of all lengths, at the label limit, longer.
NAMES = ["app", "vpc-1", "vpc-01", "sbx-390", "a", "1", "a-1", "my.app", "my.app-2", "net-a-b-3", "x" * 63,
         "y" * 62 + "-1", "z" * 64, "long-" * 50 + "end", ("d." * 126)[:-1], "a-9223372036854775808",
         "q" * 52 + "-" + "r" * 10, "p" * 51 + "." + "s" * 11]


@pytest.mark.parametrize("name", NAMES)
def test_default_suffix_works_for_every_valid_name(name: str) -> None:
    assert len(name) <= 253 and DNS_SUBDOMAIN.match(name), name  # a valid object name
    suffix = sn.default_secret_suffix(name)
    assert sn.backend_problems("default", suffix) == []
    assert sn.backend_problems("w" * 63, suffix) == []  # and in any workspace the CRD allows
    if not sn.backend_problems("default", name):
        assert suffix == name  # the state of names that worked before does not move
    else:
        assert "." in suffix or sn.explicit_suffix_problem(suffix) is None  # a derived one is usable explicitly


def test_default_suffix_is_stable_and_distinct() -> None:
    assert sn.default_secret_suffix("vpc-1") == sn.default_secret_suffix("vpc-1")
    assert re.fullmatch(r"vpc-1-tf[0-9a-f]{8}", sn.default_secret_suffix("vpc-1"))
    derived = {sn.default_secret_suffix(n) for n in ("vpc-1", "vpc-2", "vpc-01", "z" * 64, "z" * 65)}
    assert len(derived) == 5
    cut = sn.default_secret_suffix("a" * 51 + "." + "b" * 20)  # the cut lands after the dot
    assert not cut.startswith("a" * 51 + ".-") and len(cut) <= 63


@pytest.mark.parametrize(("suffix", "ok"), [
    ("shared", True), ("net-v1", True), ("a-1b", True), ("390", True), ("a--b", True),
    ("sbx-390", False), ("vpc-1", False), ("a-b-2024", False), ("a-99999999999999999999", False),
    ("Upper", False), ("a.b", False), ("-a", False), ("a-", False), ("a" * 64, False),
])
def test_explicit_suffix(suffix: str, ok: bool) -> None:
    assert (sn.explicit_suffix_problem(suffix) is None) is ok
    if ok:
        assert sn.backend_problems("default", suffix) == []  # what admission lets through, Terraform accepts


def _tf(name: str, suffix: str | None = None) -> dict:
    spec: dict = {"sourceRef": {"kind": "GitRepository", "name": "src"}, "interval": "1m"}
    if suffix is not None:
        spec["backendConfig"] = {"secretSuffix": suffix}
    return {"apiVersion": "tfcontroller.io/v1alpha1", "kind": "Terraform",
            "metadata": {"name": name, "namespace": "ns"}, "spec": spec}


def test_spec_resolves_and_refuses_suffixes() -> None:
    assert Terraform.from_dict(_tf("app")).state_secret_name == "tfstate-default-app"
    tf = Terraform.from_dict(_tf("vpc-1"))
    assert tf.spec.secret_suffix == sn.default_secret_suffix("vpc-1")
    assert tf.state_lease_name == "lock-" + tf.state_secret_name
    assert Terraform.from_dict(_tf("vpc-1", "net-a")).spec.secret_suffix == "net-a"
    with pytest.raises(SpecError) as err:
        Terraform.from_dict(_tf("app", "sbx-390"))
    assert err.value.field == "spec.backendConfig.secretSuffix"
    assert "'-<number>'" in err.value.message and "sbx-390" in err.value.message


def test_names_longer_than_a_label_value_are_refused_not_retried() -> None:
    assert Terraform.from_dict(_tf("n" * 63)).spec.secret_suffix == "n" * 63
    with pytest.raises(SpecError) as err:
        Terraform.from_dict(_tf("n" * 64))
    assert err.value.field == "metadata.name" and "at most 63" in err.value.message
