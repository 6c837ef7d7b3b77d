"""Which other ManifestSet declares an object, asked before pruning it.

Why: moving an object from one ManifestSet's path to another's in one commit must hand it over, not
delete and re-create it (a new uid: data loss for a PersistentVolumeClaim or a Namespace). The owner
labels cover only the order where the new owner applied first; when the old owner reconciles first
(it may even be the one that creates the new ManifestSet), the object still carries the old labels.
So before deleting, the pruning ManifestSet asks every other ManifestSet (not being deleted): does
your current render — your source's latest artifact, your path, your namespace rules and inline or
readable substitutions — declare it? When that render cannot be made (no artifact yet, a build error),
the other set's inventory stands for what it declares.

Limit: the check sees each source at its latest fetched revision. A move between two GitRepositories
is handed over when the new owner's repository has fetched the moving commit before the old owner
prunes; otherwise annotate the object `tfcontroller.io/prune: disabled` for the move.

Reads use the controller's own identity (it lists ManifestSets and their sources' artifacts anyway):
a claim can only keep an object, never delete one, and nothing of the other set is written anywhere
but its name. Rendering happens lazily, once per prune and only when an object is about to be deleted.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tfcontroller.api.errors import SpecError
from tfcontroller.api.manifestset import ManifestSet
from tfcontroller.api.refs import ObjectRef
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.errors import ApiError, Forbidden
from tfcontroller.kube.resources import GITREPOSITORIES, MANIFESTSETS
from tfcontroller.manifests.inventory import InventoryEntry
from tfcontroller.manifests.prune import declared_ids
from tfcontroller.manifests.render import KustomizeConfig, RenderError, render
from tfcontroller.manifests.sources import SourceError, read_variables
from tfcontroller.manifests.substitute import SubstitutionError, substitute_object
from tfcontroller.source.store import fetch_artifact
from tfcontroller.terraform.archive import extract_artifact

log = logging.getLogger(__name__)

Obj = dict[str, Any]
SourceKey = tuple[str, str]  # ("namespace/name" of the GitRepository, artifact revision)


@dataclass
class ClaimFinder:
    """`claimant(entry)` names (`ManifestSet ns/name`) another ManifestSet that declares the entry."""

    kube: KubeClient
    namespace: str  # of the pruning ManifestSet, left out of the search
    name: str
    workdir: Path  # extracted artifacts of other sources go below it
    kustomize: KustomizeConfig = field(default_factory=KustomizeConfig)
    roots: dict[SourceKey, Path | None] = field(default_factory=dict)  # seeded with the pruning set's own
    _declared: list[tuple[str, set[str]]] | None = field(default=None, init=False, repr=False)

    def claimant(self, entry: InventoryEntry) -> str | None:
        for who, ids in self._declarations():
            if entry.id in ids:
                return who
        return None

    def _declarations(self) -> list[tuple[str, set[str]]]:
        if self._declared is None:
            try:
                items, _ = self.kube.list_all(MANIFESTSETS)
            except Forbidden:  # a controller scoped to one namespace (--namespace) may list only there
                items, _ = self.kube.list_all(MANIFESTSETS, self.namespace)
            self._declared = [
                (f"ManifestSet {(o.get('metadata') or {}).get('namespace')}/{(o.get('metadata') or {}).get('name')}",
                 self._declared_by(o))
                for o in items if self._other(o)
            ]
        return self._declared

    def _other(self, obj: Obj) -> bool:
        meta = obj.get("metadata") or {}
        if (meta.get("namespace"), meta.get("name")) == (self.namespace, self.name):
            return False
        return not meta.get("deletionTimestamp")

    def _declared_by(self, obj: Obj) -> set[str]:
        inventory = {i.get("id", "") for i in ((obj.get("status") or {}).get("inventory") or [])}
        try:
            ms = ManifestSet.from_dict(obj)
        except SpecError:
            return inventory
        try:
            rendered = self._rendered(ms)
        except Exception as exc:  # noqa: BLE001 - no render to compare: its last inventory stands for it
            log.info("cannot render ManifestSet %s for a prune check: %s", ms.meta.key, exc)
            rendered = None
        if rendered is None:
            return inventory
        return declared_ids(rendered, namespaced=self._namespaced, default_namespace=ms.meta.namespace,
                            target_namespace=ms.spec.target_namespace)

    def _rendered(self, ms: ManifestSet) -> list[Obj] | None:
        root = self._root(ms.spec.source_ref)
        if root is None:
            return None
        try:
            objs = [r.obj for r in render(root, ms.spec.path, self.kustomize)]
        except RenderError as exc:
            log.info("cannot render ManifestSet %s for a prune check: %s", ms.meta.key, exc)
            return None
        if not ms.spec.substitute and not ms.spec.substitute_from:
            return objs
        try:
            variables = read_variables(self.kube, ms.meta.namespace, ms.spec.substitute_from,
                                       ms.spec.substitute).values
        except (SourceError, ApiError):
            variables = dict(ms.spec.substitute)
        return [self._substituted(o, variables) for o in objs]

    @staticmethod
    def _substituted(obj: Obj, variables: dict[str, str]) -> Obj:
        try:
            return substitute_object(obj, variables)
        except SubstitutionError:
            return obj  # a name without variables still matches; one with them cannot be known

    def _namespaced(self, obj: Obj) -> bool:
        try:
            return self.kube.resource_for(obj["apiVersion"], obj["kind"]).namespaced
        except ApiError:
            return True  # a kind not served yet (its CRD comes with the set): custom kinds mostly are

    def _root(self, ref: ObjectRef) -> Path | None:
        """The extracted latest artifact of a GitRepository (None when it has none or it cannot be read)."""
        try:
            repo = self.kube.get_or_none(GITREPOSITORIES, ref.name, ref.namespace)
        except ApiError:
            return None
        artifact = ((repo or {}).get("status") or {}).get("artifact") or {}
        if not artifact.get("url"):
            return None
        key = (ref.key, str(artifact.get("revision", "")))
        if key not in self.roots:
            self.roots[key] = self._extract(artifact)
        return self.roots[key]

    def _extract(self, artifact: Obj) -> Path | None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        dest = Path(tempfile.mkdtemp(prefix="claims-", dir=self.workdir))
        try:
            tarball = fetch_artifact(artifact["url"], dest / "artifact.tar.gz", artifact.get("digest"))
            root = dest / "src"
            root.mkdir()
            extract_artifact(tarball, root)
            return root
        except Exception as exc:  # noqa: BLE001 - an unreadable artifact only means no render to compare
            log.info("cannot read artifact %s for a prune check: %s", artifact.get("url"), exc)
            return None
