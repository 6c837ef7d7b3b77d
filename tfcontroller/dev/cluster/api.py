"""The API verbs with kube-apiserver semantics, one method per verb, independent of HTTP.

Every write runs under the store lock so that read-check-write sequences (AlreadyExists, stale
resourceVersion, finalizers, cascades) are atomic. What the real server does in controllers
(namespace cleanup, background-propagation cascades, CRD establishment) happens synchronously inside
the write that triggers it; the rest of garbage collection (dangling references, foreground deletion)
is the background thread of gc.py. docs/dev-cluster.md lists the consequences.

`Api` is a thin facade over the verb families, one module each: api_base.py (shared state, body checks
and defaulting), api_reads.py (get, list, watch), api_deletes.py (delete, deletecollection, finalizers,
namespaces, CRD removal, cascades) and api_writes.py (create, update, patch, apply). Each family builds on
the one before it, because a delete collection lists and a write that empties a deleted object's
finalizers removes it.
"""

from __future__ import annotations

from tfcontroller.dev.cluster.api_base import (
    APPLY_PATCH,
    FOREGROUND,
    JSON_PATCH,
    MERGE_PATCH,
    PROPAGATION_POLICIES,
    PROTECTED_NAMESPACES,
    STRATEGIC_PATCH,
)
from tfcontroller.dev.cluster.api_writes import WriteVerbs

__all__ = [
    "APPLY_PATCH",
    "FOREGROUND",
    "JSON_PATCH",
    "MERGE_PATCH",
    "PROPAGATION_POLICIES",
    "PROTECTED_NAMESPACES",
    "STRATEGIC_PATCH",
    "Api",
]


class Api(WriteVerbs):
    """Every verb of the development API server (the router calls these; gc.py calls the deletes)."""
