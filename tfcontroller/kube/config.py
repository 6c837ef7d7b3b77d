"""Where the client's credentials and TLS settings come from: a kubeconfig file when one is named,
else the in-cluster service account, else the default kubeconfig. The `kubernetes` package does the
loading (tokens, client certificates, exec plugins); the pool size is ours."""

from __future__ import annotations

from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

POOL_SIZE = 64  # informers hold one connection each while watching; workers need the rest


def load_configuration(kubeconfig: str | None = None, context: str | None = None) -> k8s_client.Configuration:
    """Kubeconfig when a path is given; else in-cluster; else the default kubeconfig location."""
    cfg = k8s_client.Configuration()
    if kubeconfig:
        k8s_config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=cfg)  # type: ignore[no-untyped-call]
    else:
        try:
            k8s_config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
        except k8s_config.ConfigException:
            k8s_config.load_kube_config(context=context, client_configuration=cfg)  # type: ignore[no-untyped-call]
    cfg.connection_pool_maxsize = POOL_SIZE
    return cfg

