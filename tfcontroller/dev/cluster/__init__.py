"""Development Kubernetes API server for tests and the demo. Not for production.

`DevCluster` is the in-process entry point; `tfcontroller dev-cluster` serves the same from the CLI.
"""

from tfcontroller.dev.cluster.cluster import DevCluster

__all__ = ["DevCluster"]
