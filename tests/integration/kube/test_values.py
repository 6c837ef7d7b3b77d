"""The one Secret/ConfigMap value reader (`kube.values`) that Terraform inputs and ManifestSet
substitution share, against the dev cluster: Secret values decoded as UTF-8 (bad bytes replaced, not
fatal), ConfigMaps as written, a missing object as None, and a reader that reads each object once and
lists exactly the values that came from Secrets."""

from __future__ import annotations

from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import CONFIGMAPS
from tfcontroller.kube.values import ValueReader, read_values


def test_read_values_of_each_kind_and_missing(kube: KubeClient) -> None:
    kube.upsert_secret("default", "vals-s", {"token": b"t0k3n", "bad": b"a\xffb"})
    kube.create(CONFIGMAPS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "vals-c"},
                             "data": {"region": "eu-west-1"}}, "default")

    assert read_values(kube, "default", "Secret", "vals-s") == {"token": "t0k3n", "bad": "a\ufffdb"}
    assert read_values(kube, "default", "ConfigMap", "vals-c") == {"region": "eu-west-1"}
    assert read_values(kube, "default", "Secret", "vals-absent") is None
    assert read_values(kube, "default", "ConfigMap", "vals-absent") is None
    assert read_values(kube, "default", "ConfigMap", "vals-s") is None  # kinds are not confused


def test_reader_reads_once_and_lists_secret_values_only(kube: KubeClient) -> None:
    kube.upsert_secret("default", "vals-once", {"password": b"pw-1"})
    kube.create(CONFIGMAPS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "vals-plain"},
                             "data": {"user": "app"}}, "default")
    reader = ValueReader(kube, "default")

    assert reader.data("Secret", "vals-once") == {"password": "pw-1"}
    kube.upsert_secret("default", "vals-once", {"password": b"pw-2"})  # a second read would see this
    assert reader.data("Secret", "vals-once") == {"password": "pw-1"}
    assert reader.data("ConfigMap", "vals-plain") == {"user": "app"}
    assert reader.data("Secret", "vals-none") is None
    assert reader.secrets == ["pw-1"]
