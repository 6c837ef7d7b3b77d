"""Who is looking at a page, and a client that acts as them.

A `Viewer` is built per request (auth.py): locally from the kubeconfig's identity, in-cluster from the
session's user with a client that impersonates them. Pages read and actions write only through
`viewer.client`, so the API server's RBAC decides what each viewer sees and does; `can()` asks the same
authorizer beforehand (SelfSubjectAccessReview as the viewer) so that a page can disable a button the
API would refuse, and caches the answers for the request.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.errors import ApiError
from tfcontroller.kube.resources import Resource
from tfcontroller.kube.reviews import allowed

AccessKey = tuple[str, str, str, str, str]  # verb, api version, plural, namespace, name


@dataclass(frozen=True)
class Viewer:
    client: KubeClient  # acts as the viewer (kubeconfig identity locally; impersonating in-cluster)
    username: str
    groups: tuple[str, ...]
    default_namespace: str  # kubeconfig context namespace, or the ServiceAccount's namespace, or "default"
    _answers: dict[AccessKey, bool] = field(default_factory=dict, compare=False, repr=False)

    def can(self, verb: str, resource: Resource, namespace: str, name: str = "") -> bool:
        """May the viewer do `verb` on that object (or on the kind in `namespace` without a name)? The
        answer of a SelfSubjectAccessReview as the viewer, cached for this request; a review that cannot
        be made counts as "no" (the button is disabled, and the API would judge the action anyway)."""
        key = (verb, resource.api_version, resource.plural, namespace, name)
        if key not in self._answers:
            try:
                self._answers[key] = allowed(self.client, verb, resource, name, namespace)
            except ApiError:
                self._answers[key] = False
        return self._answers[key]
