"""Substitution variables read from the dev cluster (`manifests.sources.read_variables`): precedence of
Secrets, ConfigMaps and inline values, which values came from Secrets, and a ManifestSet failure message
(status, Events) scrubbed of those values."""

from __future__ import annotations

from pathlib import Path

from tfcontroller.api.refs import ValuesFrom
from tfcontroller.controllers.manifestset.context import RunContext
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import CONFIGMAPS
from tfcontroller.manifests.sources import read_variables

SECRET_VALUE = "db-pass-9f8e7d6c"


def test_values_from_secrets_are_listed_and_scrubbed_from_failures(kube: KubeClient, tmp_path: Path) -> None:
    kube.upsert_secret("default", "creds", {"password": SECRET_VALUE.encode(), "user": b"app"})
    kube.create(CONFIGMAPS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "plain"},
                             "data": {"user": "from-configmap", "region": "eu-west-1"}}, "default")
    refs = [ValuesFrom("Secret", "creds"), ValuesFrom("ConfigMap", "plain"), ValuesFrom("Secret", "gone", True)]

    got = read_variables(kube, "default", refs, {"region": "inline"})

    assert got.values == {"password": SECRET_VALUE, "user": "from-configmap", "region": "inline"}
    assert sorted(got.secrets) == sorted([SECRET_VALUE, "app"])
    ctx = RunContext("default", "app", tmp_path, secret_values=got.secrets)
    err = ctx.fail("ApplyFailed", f'ConfigMap default/x: data.password: Invalid value: "{SECRET_VALUE}"')
    assert err.reason == "ApplyFailed" and "Invalid value" in err.message
    assert SECRET_VALUE not in err.message and SECRET_VALUE not in str(err)
