"""The key/values of a Secret or ConfigMap, as the strings a user wrote: one reader for every consumer.

Terraform inputs (`varsFrom`, `envFrom`, `env[].valueFrom`) and ManifestSet substitution
(`substituteFrom`) read the same two kinds the same way: Secret values decoded as UTF-8 (an undecodable
byte becomes U+FFFD instead of failing), ConfigMap `data` as is, a missing object as None so the caller
decides whether it was optional. `ValueReader` reads each object once per reconcile and keeps every value
read from a Secret, so messages built afterwards can be scrubbed of them.
"""

from __future__ import annotations

from typing import Protocol

from tfcontroller.kube.errors import NotFound

SECRET_KIND = "Secret"


class ValueSource(Protocol):
    """What the reader needs of an API client (KubeClient has it): typed this narrowly so that a runner can
    hand a client it connects only on the first read, and skip the client's imports when a run reads
    nothing (issue 21)."""

    def read_secret_data(self, namespace: str, name: str) -> dict[str, bytes]: ...

    def read_configmap_data(self, namespace: str, name: str) -> dict[str, str]: ...


def read_values(kube: ValueSource, namespace: str, kind: str, name: str) -> dict[str, str] | None:
    """The key/values of Secret or ConfigMap `namespace/name` (`kind` "Secret" or "ConfigMap");
    None when it does not exist."""
    try:
        if kind == SECRET_KIND:
            raw = kube.read_secret_data(namespace, name)
            return {k: v.decode("utf-8", "replace") for k, v in raw.items()}
        return dict(kube.read_configmap_data(namespace, name))
    except NotFound:
        return None


class ValueReader:
    """`read_values` of one namespace, each object read once; `secrets` holds the values read from
    Secrets (in reading order) for scrubbing."""

    def __init__(self, kube: ValueSource, namespace: str) -> None:
        self.kube = kube
        self.namespace = namespace
        self._cache: dict[tuple[str, str], dict[str, str] | None] = {}
        self.secrets: list[str] = []

    def data(self, kind: str, name: str) -> dict[str, str] | None:
        key = (kind, name)
        if key not in self._cache:
            values = read_values(self.kube, self.namespace, kind, name)
            if values is not None and kind == SECRET_KIND:
                self.secrets.extend(values.values())
            self._cache[key] = values
        return self._cache[key]
