"""`spec.cliConfigSecretRef` and `spec.fileMappings` (api/run_files.py, issue 20): the typed view, the key's
default, and the path rules the schema cannot express — a mapped file stays inside its location and never
replaces what the controller writes itself (CLI configuration, backend, variables, override files, data
directory); two mappings never target one file. They also travel in run requests, checked again there."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tfcontroller.api import run_protocol as rp
from tfcontroller.api.errors import SpecError
from tfcontroller.api.run_files import CliConfigRef, FileMapping, path_problem
from tfcontroller.api.terraform import Terraform

DIGEST = "sha256:" + "a" * 64


def _tf(**spec: Any) -> Terraform:
    return Terraform.from_dict({
        "apiVersion": "tfcontroller.io/v1alpha1", "kind": "Terraform",
        "metadata": {"name": "web", "namespace": "team-a"},
        "spec": {"sourceRef": {"name": "src"}, "interval": "1h", **spec}})


def _mapping(location: str = "home", path: str = ".netrc", name: str = "git", key: str = "netrc") -> dict[str, Any]:
    return {"location": location, "path": path, "secretKeyRef": {"name": name, "key": key}}


def test_fields_parse_with_defaults() -> None:
    spec = _tf(cliConfigSecretRef={"name": "registry"},
               fileMappings=[_mapping(), _mapping("home", ".ssh/id_ed25519", "ssh", "identity"),
                             _mapping("workingDir", "certs/ca.pem", "ca", "ca.crt")]).spec
    assert spec.cli_config_secret_ref == CliConfigRef("registry", "terraform.tfrc")
    assert spec.file_mappings == (FileMapping("home", ".netrc", "git", "netrc"),
                                  FileMapping("home", ".ssh/id_ed25519", "ssh", "identity"),
                                  FileMapping("workingDir", "certs/ca.pem", "ca", "ca.crt"))
    assert _tf(cliConfigSecretRef={"name": "r", "key": "rc"}).spec.cli_config_secret_ref == CliConfigRef("r", "rc")
    assert _tf().spec.cli_config_secret_ref is None and _tf().spec.file_mappings == ()


@pytest.mark.parametrize(("location", "path", "says"), [
    ("home", "/etc/passwd", "must be relative"),
    ("home", "../.netrc", "must be relative"),
    ("home", ".ssh/../../x", "must be relative"),
    ("home", "./.netrc", "must be relative"),
    ("home", ".ssh/", "must be relative"),
    ("home", ".ssh//id", "must be relative"),
    ("home", ".", "must be relative"),
    ("workingDir", "a\\b", "no NUL or backslash"),
    ("home", "x" * 256, "at most 255"),
    ("home", ".terraform.d/credentials.tfrc.json", "cliConfigSecretRef"),
    ("home", ".terraformrc", "cliConfigSecretRef"),
    ("home", "terraform.rc", "cliConfigSecretRef"),
    ("workingDir", "backend_override.tf", "generated backend"),
    ("workingDir", "zz_override.tf", "override file"),
    ("workingDir", "override.tf.json", "override file"),
    ("workingDir", ".terraform/terraform.tfstate", "data directory"),
])
def test_bad_paths_are_refused_naming_the_field(location: str, path: str, says: str) -> None:
    assert says in (path_problem(location, path) or "")
    with pytest.raises(SpecError) as refused:
        _tf(fileMappings=[_mapping(location, path)])
    assert refused.value.field == "spec.fileMappings[0].path" and says in refused.value.detail


@pytest.mark.parametrize(("location", "path"), [
    ("home", ".netrc"), ("home", ".gitconfig"), ("home", ".ssh/known_hosts"), ("home", ".config/git/config"),
    ("workingDir", "terraform.rc"), ("workingDir", "secrets/key.json"), ("workingDir", "override.txt"),
    ("workingDir", "tfcontroller-000.tfvars"), ("workingDir", "my.auto.tfvars"),
    # the run's variables files are outside the working directory (terraform/workspace.VARS_DIR): the old
    # in-module names are ordinary names now (a module auto file, which the object's -var-files beat)
    ("workingDir", "tfcontroller.auto.tfvars.json"), ("workingDir", "tfcontroller-000.auto.tfvars"),
])
def test_good_paths(location: str, path: str) -> None:
    assert path_problem(location, path) is None


@pytest.mark.parametrize(("mappings", "says"), [
    ([_mapping(), _mapping(name="other")], "second mapping to home/.netrc"),
    ([_mapping(path=".ssh"), _mapping(path=".ssh/id_ed25519")], "home/.ssh is mapped as a file"),
    ([_mapping(path=".ssh/keys/id"), _mapping(path=".ssh")], "home/.ssh is mapped as a file"),
])
def test_clashing_mappings_are_refused(mappings: list[dict[str, Any]], says: str) -> None:
    with pytest.raises(SpecError) as refused:
        _tf(fileMappings=mappings)
    assert says in str(refused.value)


def test_the_same_path_in_two_locations_is_fine() -> None:
    assert len(_tf(fileMappings=[_mapping("home", "a"), _mapping("workingDir", "a")]).spec.file_mappings) == 2


@pytest.mark.parametrize(("bad", "says"), [
    ({"location": "tmp"}, "unsupported value 'tmp'"),
    ({"secretKeyRef": {"name": "Bad_Name", "key": "k"}}, "secretKeyRef.name"),
    ({"secretKeyRef": {"name": "ok"}}, "secretKeyRef.key: Required value"),
    ({"secretKeyRef": None}, "secretKeyRef: Required value"),
])
def test_bad_mapping_fields(bad: dict[str, Any], says: str) -> None:
    with pytest.raises(SpecError) as refused:
        _tf(fileMappings=[{**_mapping(), **bad}])
    assert says in str(refused.value)


def test_bad_cli_config_ref() -> None:
    with pytest.raises(SpecError, match="spec.cliConfigSecretRef.name"):
        _tf(cliConfigSecretRef={"key": "x"})
    with pytest.raises(SpecError, match="spec.cliConfigSecretRef.key: must not be empty"):
        _tf(cliConfigSecretRef={"name": "x", "key": ""})


def _request(**fields: Any) -> rp.RunRequest:
    return rp.RunRequest(run_id="r-1", operation=rp.PLAN, namespace="team-a", name="web",
                         artifact_url="http://artifacts/x.tar.gz", artifact_digest=DIGEST, **fields)


def test_requests_carry_the_references() -> None:
    request = _request(cli_config_ref=CliConfigRef("registry", "rc"),
                       file_mappings=(FileMapping("home", ".netrc", "git", "netrc"),
                                      FileMapping("workingDir", "ca.pem", "ca", "ca.crt")))
    assert rp.RunRequest.from_dict(json.loads(json.dumps(request.to_dict()))) == request
    assert rp.RunRequest.from_dict(_request().to_dict()).cli_config_ref is None


@pytest.mark.parametrize(("change", "field"), [
    ({"cli_config_ref": "registry"}, "cli_config_ref"),
    ({"cli_config_ref": {"name": "r"}}, "cli_config_ref.key"),
    ({"file_mappings": [{"location": "tmp", "path": "x", "secret_name": "s", "key": "k"}]}, "file_mappings[0].location"),
    ({"file_mappings": [{"location": "home", "path": "../x", "secret_name": "s", "key": "k"}]}, "file_mappings[0].path"),
    ({"file_mappings": [{"location": "home", "path": "x", "secret_name": "S", "key": "k"}]},
     "file_mappings[0].secret_name"),
])
def test_a_wrong_request_names_its_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(rp.RequestInvalid) as refused:
        rp.RunRequest.from_dict({**_request().to_dict(), **change})
    assert str(refused.value).startswith(f"{field}: ")
