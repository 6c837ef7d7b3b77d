"""Development Kubernetes API server for tests and the demo. Not for production.

`DevCluster` is the in-process entry point; `tfcontroller dev-cluster` serves the same from the CLI
(`node_config` builds its node's configuration from the `--image` options).
"""

from tfcontroller.dev.cluster.cluster import DevCluster
from tfcontroller.dev.cluster.node.images import node_config

__all__ = ["DevCluster", "node_config"]
