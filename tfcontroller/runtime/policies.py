"""PlanPolicies as both controllers need them (issue 18): which PlanPolicies gate a Terraform, and each one's
Rego modules loaded from its source — one copy of the rules for the PlanPolicy controller (source → compile
check → status) and the Terraform controller's gate (evaluate on every plan).

- `select_policies(kube, terraform, controller_namespace)`: the PlanPolicies of the Terraform's namespace and
  of the controller's namespace (the cluster-wide defaults) that select it (`api/planpolicy.py` `selects`),
  sorted by key. A PlanPolicy whose spec is invalid cannot say what it selects: it is returned as a
  `PolicyLoad` with the error (fail closed: the gate blocks with a condition naming it), never skipped.
- `PolicyLoader.load(policy)`: the policy's `PolicyBundle` (P1's `tfcontroller.policy.bundle`), revision,
  digest and files. Inline `rego` is one module named `spec.rego`. A `sourceRef` is resolved as a
  Terraform's is: a reference into another namespace obeys `accessFrom`/`--allow-cross-namespace-refs`
  (Stalled `AccessDenied`, runtime/access.py), a GitRepository without an artifact is `SourceNotReady`
  (waiting), a download or extraction failure `ArtifactFailed` (retried), a `path` that is missing, leaves
  the artifact or holds no `.rego` file Stalled `ArtifactFailed`; the artifact's `*.rego` files below `path`
  are loaded by `load_policy_dir` and compile-checked (`compile_check`): errors are Stalled `CompileFailed`
  naming `file:line:col`. Stalled waits for a push: the GitRepository watch re-reconciles.
- `load_selected_policies(...)`: both, for the gate: one `PolicyLoad` per selected PlanPolicy, either loaded
  or with the `ReconcileError` (reason and message) that made it unavailable.

Loaded modules are cached by (artifact digest, path): the gate runs on every plan of every Terraform and
must not download the same artifact each time; a new artifact has a new digest.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tfcontroller.api import conditions as c
from tfcontroller.api.access import ACCESS_DENIED
from tfcontroller.api.errors import ReconcileError, StallingError, TransientError, WaitingError
from tfcontroller.api.meta import ObjectMeta
from tfcontroller.api.planpolicy import (
    FAIL_OPEN,
    REASON_COMPILE_FAILED,
    PlanPolicy,
    inline_revision,
    policy_digest,
    selects,
)
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import GITREPOSITORIES, PLANPOLICIES
from tfcontroller.policy.bundle import (
    PolicyBundle,
    PolicySourceError,
    compile_check,
    inline_bundle,
    load_policy_dir,
)
from tfcontroller.runtime.access import namespace_labels, refused_source
from tfcontroller.source.store import fetch_artifact
from tfcontroller.terraform.archive import extract_artifact

log = logging.getLogger(__name__)

SOURCE_RETRY = 30.0  # a GitRepository without an artifact yet: look again (its watch usually comes first)
CACHE_SIZE = 64
MAX_COMPILE_ERRORS = 10  # in one message; the rest counted


@dataclass(frozen=True)
class LoadedPolicy:
    """One PlanPolicy ready to evaluate: its bundle (modules, `data`) and what status shows of it."""

    policy: PlanPolicy
    bundle: PolicyBundle
    revision: str  # the artifact's `<ref>@sha1:<hex>`, or `inline@sha256:<hex>`
    digest: str  # api/planpolicy.py policy_digest
    files: tuple[str, ...]


@dataclass(frozen=True)
class PolicyLoad:
    """A selected PlanPolicy for the gate: `loaded`, or `error` saying why it is unavailable (its reason is
    SourceNotReady, ArtifactFailed, AccessDenied, CompileFailed or SpecValidationFailed)."""

    key: str  # `<namespace>/<name>`
    loaded: LoadedPolicy | None = None
    error: ReconcileError | None = None
    fail_open: bool = False  # spec.failurePolicy: Open (an unreadable spec fails closed)

    @property
    def message(self) -> str:
        """The PolicyUnavailable text: the policy and why."""
        return f"PlanPolicy {self.key}: {self.error.reason}: {self.error.message}" if self.error else ""


def _raw_fail_open(obj: dict[str, Any]) -> bool:
    return ((obj.get("spec") or {}).get("failurePolicy")) == FAIL_OPEN


def select_policies(kube: KubeClient, terraform: dict[str, Any], controller_namespace: str) -> list[PolicyLoad | PlanPolicy]:
    """The PlanPolicies that gate `terraform`, sorted by key: typed views, or a `PolicyLoad` with the
    SpecError of a PlanPolicy in scope whose spec cannot be read (it might select this Terraform)."""
    meta = ObjectMeta.from_dict(terraform)
    namespaces = dict.fromkeys((meta.namespace, controller_namespace))
    ns_labels: dict[str, str] | None = None  # the Terraform's namespace's labels, read once when a selector needs them
    out: dict[str, PolicyLoad | PlanPolicy] = {}
    for namespace in namespaces:
        items, _ = kube.list_all(PLANPOLICIES, namespace)
        for obj in items:
            try:
                policy = PlanPolicy.from_dict(obj, controller_namespace)
            except ReconcileError as exc:
                key = ObjectMeta.from_dict(obj).key
                out[key] = PolicyLoad(key, error=exc, fail_open=_raw_fail_open(obj))
                continue
            if policy.spec.namespace_selector is not None and ns_labels is None:
                ns_labels = namespace_labels(kube, meta.namespace)
            if selects(policy.meta.namespace, policy.spec, controller_namespace=controller_namespace,
                       terraform_namespace=meta.namespace, terraform_labels=meta.labels, namespace_labels=ns_labels):
                out[policy.key] = policy
    return [out[k] for k in sorted(out)]


class PolicyLoader:
    """Loads PlanPolicies' modules (thread-safe; one per controller). `workdir`: scratch space for
    downloads, emptied after each load."""

    def __init__(self, kube: KubeClient, workdir: Path | str | None = None, *,
                 allow_cross_namespace_refs: bool = False) -> None:
        self.kube = kube
        self.workdir = Path(workdir) if workdir else Path(tempfile.gettempdir())
        self.allow_cross_namespace_refs = allow_cross_namespace_refs
        self._cache: OrderedDict[tuple[str, str], tuple[tuple[str, str], ...]] = OrderedDict()
        self._lock = threading.Lock()

    def load(self, policy: PlanPolicy) -> LoadedPolicy:
        """The policy's bundle, compile-checked; raises the ReconcileError that makes it unavailable."""
        spec = policy.spec
        if spec.rego is not None:
            bundle = inline_bundle(policy.key, spec.rego, spec.data)
            revision = inline_revision(spec.rego)
        else:
            revision, modules = self._from_source(policy)
            bundle = PolicyBundle(name=policy.key, modules=modules, data=spec.data)
        check_compiles(bundle)
        files = tuple(name for name, _ in bundle.modules)
        return LoadedPolicy(policy, bundle, revision, policy_digest(bundle.modules, spec), files)

    def _from_source(self, policy: PlanPolicy) -> tuple[str, tuple[tuple[str, str], ...]]:
        ref = policy.spec.source_ref
        assert ref is not None
        repo = self.kube.get_or_none(GITREPOSITORIES, ref.name, ref.namespace)
        refused = refused_source(self.kube, ref.kind, ref.namespace, ref.name, policy.meta.namespace, repo,
                                 self.allow_cross_namespace_refs)
        if refused:
            raise StallingError(ACCESS_DENIED, refused)
        artifact = ((repo or {}).get("status") or {}).get("artifact") or {}
        if not artifact.get("url"):
            what = "not found" if repo is None else "has no artifact yet"
            raise WaitingError(c.SOURCE_NOT_READY, f"GitRepository {ref.key} {what}", SOURCE_RETRY)
        revision = str(artifact.get("revision") or "")
        key = (str(artifact.get("digest") or artifact["url"]), policy.spec.path)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
        if hit is None:
            hit = self._read_artifact(policy, str(artifact["url"]), artifact.get("digest"), revision)
            with self._lock:
                self._cache[key] = hit
                while len(self._cache) > CACHE_SIZE:
                    self._cache.popitem(last=False)
        return revision, hit

    def _read_artifact(self, policy: PlanPolicy, url: str, digest: str | None,
                       revision: str) -> tuple[tuple[str, str], ...]:
        ref = policy.spec.source_ref
        assert ref is not None
        self.workdir.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix="planpolicy-", dir=self.workdir))
        try:
            try:
                tarball = fetch_artifact(url, scratch / "artifact.tar.gz", digest)
                extract_artifact(tarball, scratch / "src")
            except Exception as exc:  # noqa: BLE001 - any download/extract problem is an artifact failure
                raise TransientError(c.ARTIFACT_FAILED,
                                     f"cannot fetch artifact {revision} of GitRepository {ref.key}: {exc}") from None
            try:
                return load_policy_dir(scratch / "src", policy.spec.path).modules
            except (PolicySourceError, OSError) as exc:
                # the artifact is what it is: Stalled until a push (the GitRepository watch) or a spec change
                raise StallingError(c.ARTIFACT_FAILED,
                                    f"GitRepository {ref.key} at {revision}: {exc}: fix spec.path or the "
                                    "repository") from None
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


def check_compiles(bundle: PolicyBundle) -> None:
    """Stalled `CompileFailed` naming each `file:line:col` when the modules do not compile."""
    errors = compile_check(bundle)
    if not errors:
        return
    shown = "; ".join(str(e) for e in errors[:MAX_COMPILE_ERRORS])
    more = f" (and {len(errors) - MAX_COMPILE_ERRORS} more)" if len(errors) > MAX_COMPILE_ERRORS else ""
    raise StallingError(REASON_COMPILE_FAILED, f"policy does not compile: {shown}{more}")


def load_selected_policies(kube: KubeClient, loader: PolicyLoader, terraform: dict[str, Any],
                           controller_namespace: str) -> list[PolicyLoad]:
    """For the gate: every PlanPolicy that selects `terraform`, loaded or with why it is unavailable.
    Fail closed or open is the caller's decision, from `PolicyLoad.fail_open`."""
    out: list[PolicyLoad] = []
    for item in select_policies(kube, terraform, controller_namespace):
        if isinstance(item, PolicyLoad):
            out.append(item)
            continue
        try:
            out.append(PolicyLoad(item.key, loaded=loader.load(item), fail_open=item.spec.fail_open))
        except ReconcileError as exc:
            out.append(PolicyLoad(item.key, error=exc, fail_open=item.spec.fail_open))
    return out


__all__ = ["LoadedPolicy", "PolicyLoad", "PolicyLoader", "check_compiles", "load_selected_policies",
           "select_policies"]
