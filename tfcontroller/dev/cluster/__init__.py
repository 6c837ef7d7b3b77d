"""Development Kubernetes API server for tests and the demo. Not for production.

`DevCluster` is the in-process entry point; `tfcontroller dev-cluster` serves the same from the CLI
(`node_config` builds its node's configuration from the `--image` options, `oidc_config` the OpenID Connect
authenticator's from the `--oidc-*` options).
"""

from tfcontroller.dev.cluster.cluster import DevCluster
from tfcontroller.dev.cluster.node.images import node_config
from tfcontroller.dev.cluster.oidc import OIDCConfig, oidc_config

__all__ = ["DevCluster", "OIDCConfig", "node_config", "oidc_config"]
