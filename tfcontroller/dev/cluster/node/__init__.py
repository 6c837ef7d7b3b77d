"""The dev cluster's node: Pods and Jobs run as bubblewrap-sandboxed host processes (docs/dev-cluster.md)."""

from tfcontroller.dev.cluster.node.node import Node, NodeConfig

__all__ = ["Node", "NodeConfig"]
