"""The Terraform controller's decisions, as pure functions on plain data (design.md §4).

Keeping them free of I/O lets each rule be unit-tested on dicts: when to plan again (rule 1), which
approval applies which plan (rule 2), and when a plan that recreates everything must not run (rule 5);
also when a dependency is ready, what a plan id is made of, and which outputs an apply reported (names
only, rule 7).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tfcontroller.api import conditions as c
from tfcontroller.api.terraform_status import TerraformStatus
from tfcontroller.api.tfaddress import split_request
from tfcontroller.runtime.readiness import readiness
from tfcontroller.source.refs import parse_revision
from tfcontroller.terraform.config import Timeouts

APPROVE_AUTO = "auto"
SCOPE_MODULE, SCOPE_ARTIFACT = "Module", "Artifact"  # status.inputsDigestScope.scope
DIGEST_WIDENED = "InputsDigestWidened"  # Event reason when the digest starts covering the whole artifact
_SCOPE_MESSAGE_MAX = 1000


def backend_digest_input(namespace: str, secret_suffix: str, custom_keyed: str = "") -> dict[str, Any]:
    """The backend part of the inputs digest (design.md §4.1): where the state is decides what a plan
    would do. The kubernetes backend's document is unchanged since before custom backends existed (an
    upgrade re-plans nothing); a custom one (`backendConfig.customConfiguration`) enters as the keyed
    digest of its text (`custom_keyed`), so the block's settings never appear even hashed plainly. Pure."""
    if custom_keyed:
        return {"kind": "custom", "configuration": custom_keyed}
    return {"kind": "kubernetes", "namespace": namespace, "secretSuffix": secret_suffix}


# How the object's variables reach Terraform, as a marker in the inputs digest (inputs_digest): the
# object's tfVarsFiles then vars as command-line `-var-file`s, after every automatic file of the module.
VARIABLES_PRECEDENCE = "var-files-after-module-files"


def inputs_digest(
    *,
    module_digest: str,
    variables: dict[str, Any],
    env_names_digest: str,
    backend: dict[str, Any],
    workspace: str,
    destroy: bool,
    terraform_version: str,
    var_files: Sequence[tuple[str, str]] = (),
    run_files_digest: str = "",
    targets: Sequence[str] = (),
    sets_variables: bool = False,
) -> str:
    """What a plan depends on. Deliberately excludes approvePlan, interval and unrelated paths (rule 1).

    Issue 20: `spec.targets` limit what a plan does, so they are in it (only when set: the digests of
    objects without targets stay what they were) as a sorted set: Terraform plans the same for any order
    of `-target`s, so reordering the list (a generator, a merge) must not re-plan or discard a pending
    approval. Not in it: `parallelism` and `planOnly` (how a plan is
    run or used, not what it would change), `replace` (one-shot: a new request plans by itself, and a
    handled one must not plan again), `remediation` (what happens after a failure).

    Variables are hashed with their values (a changed value must re-plan) but the digest itself reveals
    nothing: it is a sha256 over a canonical JSON document. `var_files` (spec.tfVarsFiles: path and
    content digest, in order, since order decides which value wins) enter only when there are any, so
    that the digest of every object without them stays what it was (no re-plan on upgrade); they may
    lie outside the module's directories the module digest covers. `run_files_digest` (keyed) covers
    `cliConfigSecretRef` and `fileMappings` (issue 20: a `.gitconfig` rewrite or a registry `host` block
    changes which module is fetched; a rotated token does not, RunFiles.digest_document); it enters the document only when set, so an object without them
    keeps the digest it had.

    `sets_variables` (the object sets a variable: vars or varsFrom) or any `var_files` add the precedence
    marker `variablesPrecedence` (VARIABLES_PRECEDENCE; review s19, finding 5). Since s19 the object's
    files are `-var-file`s that beat every automatic file of the module; before, a module's
    `zz.auto.tfvars` could beat them. The marker makes every object whose values may now win differently
    plan once after the upgrade (a plan without changes applies nothing) instead of staying at the old
    value, unnoticed (drift checks are refresh-only), until an unrelated change plans. An object that sets
    nothing keeps its digest: its plan cannot change. Change the marker's value when the precedence rule
    changes again.
    """
    doc = {
        "module": module_digest,
        "vars": variables,
        "env": env_names_digest,
        "backend": backend,
        "workspace": workspace,
        "destroy": destroy,
        "terraform": terraform_version,
    }
    if var_files:
        doc["tfVarsFiles"] = [list(entry) for entry in var_files]
    if sets_variables or var_files:
        doc["variablesPrecedence"] = VARIABLES_PRECEDENCE
    if run_files_digest:
        doc["runFiles"] = run_files_digest
    if targets:
        doc["targets"] = sorted(set(targets))  # a set of addresses: their order changes nothing Terraform does
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def digest_scope(widened: Sequence[str]) -> dict[str, str]:
    """`status.inputsDigestScope` from why the module digest had to cover the whole artifact (rule 9).

    The message names the first expression that could not be resolved (file:line: expression: why) and
    how to narrow the digest again, so that a user sees why every commit plans.
    """
    if not widened:
        return {"scope": SCOPE_MODULE, "message": ""}
    more = f" (and {len(widened) - 1} more)" if len(widened) > 1 else ""
    message = (f"the inputs digest covers the whole artifact, so every commit plans again: {widened[0]}{more}; "
               "build the path from literals, path.module, locals or variable defaults to narrow it")
    if len(message) > _SCOPE_MESSAGE_MAX:
        message = message[:_SCOPE_MESSAGE_MAX - 3] + "..."
    return {"scope": SCOPE_ARTIFACT, "message": message}


def path_variables(resolved: Mapping[str, Any], env: Mapping[str, str], spec_literals: Mapping[str, Any],
                   public_declared: Collection[str]) -> tuple[frozenset[str], dict[str, str]]:
    """Which root variables the object sets (their defaults must not resolve a path, rule 9), and the
    values among them the static analysis may use: strings written literally in `spec.vars` (already
    public in the spec) that the run will see unchanged (no `TF_VAR_` of the same name) and that the
    module declares and does not mark sensitive (a resolved path may appear in a status message).
    Values from Secrets, ConfigMaps or sealed values are never used."""
    provided = frozenset(resolved) | {k[len("TF_VAR_"):] for k in env if k.startswith("TF_VAR_")}
    known = {name: value for name, value in resolved.items()
             if isinstance(value, str) and spec_literals.get(name) == value and name in public_declared
             and f"TF_VAR_{name}" not in env}
    return provided, known


@dataclass(frozen=True)
class PlanDecision:
    plan: bool
    reason: str
    is_drift_check: bool = False


def decide_plan(
    status: dict[str, Any],
    digest: str,
    *,
    replan_requested: bool,
    drift_due: bool,
    lock_blocked_last_try: bool,
    plan_only: bool = False,
) -> PlanDecision:
    """Should this reconcile run `terraform plan`?

    A pending plan made from the same inputs stays valid (no re-plan on approval edits or on commits
    elsewhere in the repository); applied inputs that match mean there is nothing to do unless a drift
    check is due.
    """
    last = TerraformStatus.of(status)
    pending = last.pending.id
    if replan_requested:
        return PlanDecision(True, "re-plan requested")
    if lock_blocked_last_try:
        return PlanDecision(True, "the last attempt was blocked by a state lock")
    if pending and last.inputs_digest == digest:
        if plan_only and drift_due:  # issue 20: never applied, so the watch is a new plan each drift interval
            return PlanDecision(True, "drift detection is due (planOnly)", is_drift_check=True)
        return PlanDecision(False, "the pending plan is still current")
    if pending:
        return PlanDecision(True, "inputs changed since the pending plan")
    if not status.get("lastAppliedInputsDigest"):
        return PlanDecision(True, "not applied yet")
    if status.get("lastAppliedInputsDigest") != digest:
        return PlanDecision(True, "inputs changed since the last apply")
    if drift_due:
        return PlanDecision(True, "drift detection is due", is_drift_check=True)
    return PlanDecision(False, "up to date")


def inputs_unchanged_message(applied_revision: str, source_revision: str, replan_command: str) -> str:
    """Ready's message when a reconcile plans nothing because the inputs digest equals the applied one
    (rule §4.1): say so, since which revision, and how to plan anyway, so that a `reconcile` that returns
    at once is not read as "planned and found no changes"."""
    since = applied_revision or source_revision
    now = f" (source now at {source_revision})" if source_revision and source_revision != since else ""
    return (f"Inputs unchanged since {since}{now}: nothing to plan; use `{replan_command}` to plan anyway")


@dataclass(frozen=True)
class ApprovalDecision:
    apply: bool
    refused: str = ""  # a message when an approval names another plan


def decide_approval(approve_spec: str | None, annotation: str | None, pending_id: str | None) -> ApprovalDecision:
    """Only the exact pending plan is applied (rule 2). `auto` applies whatever is pending."""
    if not pending_id:
        return ApprovalDecision(False)
    if (approve_spec or "") == APPROVE_AUTO:
        return ApprovalDecision(True)
    offered = [a for a in (annotation, approve_spec) if a]
    if pending_id in offered:
        return ApprovalDecision(True)
    if offered:
        return ApprovalDecision(
            False,
            f"approval names plan {offered[0]!r} but the pending plan is {pending_id!r}: "
            f"approve {pending_id} to apply it",
        )
    return ApprovalDecision(False)


def state_lost(*, applied_resources: int, state_exists: bool, state_empty: bool, creates_everything: bool) -> bool:
    """Rule 5 on counts: the last apply left resources in the state (a destroy or an empty module left
    none, so re-creating them then is expected), the state is now gone or empty, and the plan would
    create everything."""
    return applied_resources > 0 and (not state_exists or state_empty) and creates_everything


def offered_approvals(approve_spec: str | None, annotation: str | None,
                      history: Collection[str]) -> tuple[str | None, str | None]:
    """Approvals still meaningful. One naming a plan already applied, or discarded as stale, is
    history (the annotation stays on the object after it served), not a refusal of the next plan."""
    spec = approve_spec if approve_spec in ("", APPROVE_AUTO, None) or approve_spec not in history else ""
    note = annotation if annotation and annotation not in history else None
    return spec, note


def expected_resources(prior: int, add: int, destroy: int, imports: int = 0) -> int:
    """Managed resources in the state after applying a plan (a replacement adds one and destroys one; an
    import adds one to the state without creating anything; a move changes no count)."""
    return max(0, prior + add + imports - destroy)


def run_timeouts(base: Timeouts, spec_timeout: float) -> Timeouts:
    """The limits of one object's Terraform commands (`Timeouts.bounded_by`, shared with the runner)."""
    return base.bounded_by(spec_timeout)


def ref_and_commit(revision: str) -> tuple[str, str]:
    """The ref (branch or tag name) and commit a plan id is made of; a revision that does not parse gets
    "rev" and a digest of it."""
    try:
        ref, commit = parse_revision(revision)
    except ValueError:
        return "rev", hashlib.sha1(revision.encode()).hexdigest()  # noqa: S324 - a name, not security
    return (ref or "commit").removeprefix("refs/heads/").removeprefix("refs/tags/"), commit


def dependency_problem(other: dict[str, Any] | None) -> str:
    """Why a `dependsOn` Terraform is not ready for its dependants ("" when it is): it must exist, be
    ready by the one readiness rule every controller shares (runtime/readiness.py: Ready=True for its
    current generation) and, when it writes outputs, have written them."""
    if other is None:
        return "not found"
    ready = readiness(other)
    if not ready:
        return f"is not ready ({ready.why})"
    conds = (other.get("status") or {}).get("conditions") or []
    if ((other.get("spec") or {}).get("writeOutputsToSecret")) and not c.is_true(conds, c.OUTPUTS_WRITTEN):
        return "has not written its outputs"
    return ""


def output_names(messages: Any) -> list[str] | None:
    """The root module's output names from the `outputs` message of `apply -json` (it lists every output
    in the new state; sensitive values are not in it, and no value is kept here). None when absent."""
    outputs = _outputs_message(messages)
    return None if outputs is None else sorted(str(name) for name in outputs)


def sensitive_output_names(outputs: Any) -> list[str]:
    """The names of the outputs Terraform marks sensitive, from `{name: {"sensitive": bool, ...}}` (the
    state's outputs and the apply's `outputs` message have this shape). Only names: status may show
    them (`status.sensitiveOutputs`) so that `tfcontroller outputs` knows which values to hide."""
    if not isinstance(outputs, dict):
        return []
    return sorted(str(n) for n, o in outputs.items() if isinstance(o, dict) and o.get("sensitive") is True)


def applied_sensitive_output_names(messages: Any) -> list[str] | None:
    """`sensitive_output_names` of the apply's `outputs` message; None when the stream has none."""
    outputs = _outputs_message(messages)
    return None if outputs is None else sensitive_output_names(outputs)


def _outputs_message(messages: Any) -> dict[str, Any] | None:
    for msg in messages:
        if msg.get("type") == "outputs" and isinstance(msg.get("outputs"), dict):
            return dict(msg["outputs"])
    return None




UNDECLARED_VARIABLES = "UndeclaredVariables"  # Warning Event reason: values the module ignores
_UNDECLARED_NOTE_MAX = 600


def undeclared_note(undeclared: Sequence[str], origins: Mapping[str, str]) -> str:
    """What to tell about values given for variables the module does not declare (they are ignored, the
    run goes on): the keys grouped by the place that set them, e.g. `module declares no variable 'regoin'
    (from spec.varsFrom[0] (ConfigMap team/settings)); the value is ignored: declare it or remove the key`.
    "" when there are none. Names and places only: never a value."""
    if not undeclared:
        return ""
    by_origin: dict[str, list[str]] = {}
    for name in sorted(undeclared):
        by_origin.setdefault(origins.get(name, "spec"), []).append(name)
    parts = [f"{', '.join(repr(n) for n in names)} (from {origin})" for origin, names in sorted(by_origin.items())]
    noun = "variable" if len(undeclared) == 1 else "variables"
    note = (f"the module declares no {noun} {'; '.join(parts)}; "
            f"{'its value is' if len(undeclared) == 1 else 'their values are'} ignored: declare "
            f"{'it' if len(undeclared) == 1 else 'them'} in the module or remove the "
            f"{'key' if len(undeclared) == 1 else 'keys'}")
    return note if len(note) <= _UNDECLARED_NOTE_MAX else note[:_UNDECLARED_NOTE_MAX - 1] + "…"


# ---- issue 20: one-shot replacements, planOnly, the retry limit of failed applies --------------------------


@dataclass(frozen=True)
class ReplaceRequest:
    """The `-replace` addresses of the next plan and what to record once that plan is made. A replacement is
    one-shot: `spec.replace` applies to the first plan after its list changes (status.lastHandledSpecReplace
    records the list handled), the `tfcontroller.io/replace` annotation to the first plan after its value
    changes (status.lastHandledReplace), so a kept field or annotation never re-creates a resource again on
    later plans (a drift check, the next commit). A new request plans at once, like a replan. Removing the
    field or the annotation re-arms it (forget_handled_replace); a plan discarded before its apply does not
    consume it (carried_replacements)."""

    addresses: tuple[str, ...] = ()
    spec: tuple[str, ...] | None = None  # spec.replace to record as handled (None: nothing new there)
    annotation: str | None = None  # the annotation value to record as handled

    def record(self, status: dict[str, Any]) -> None:
        if self.spec is not None:
            status["lastHandledSpecReplace"] = list(self.spec)
        if self.annotation is not None:
            status["lastHandledReplace"] = self.annotation


def replace_request(spec_replace: Sequence[str], handled_spec: Any, annotation: str | None,
                    handled_annotation: Any, annotation_addresses: Sequence[str]) -> ReplaceRequest:
    """Pure: what is new in spec.replace and in the annotation (see ReplaceRequest). A request is a set of
    addresses: the same addresses in another order (or, in the annotation, with other spacing or a
    repeated address) are the handled request again, never a second replacement — `-replace` order
    changes nothing Terraform does, and re-creating a resource because a list was reordered would be
    destructive. The annotation's request is its set of addresses *and* its token
    (`<address>[,…]@<token>`, tfaddress.split_request; review s19 finding 7): a new token asks for the same
    addresses again in one step (`kubectl annotate --overwrite … =ADDR@$(date +%s)`), where otherwise the
    annotation had to be removed, the removal reconciled (forget_handled_replace), and the value set again."""
    spec_new = bool(spec_replace) and (not isinstance(handled_spec, list)
                                       or set(spec_replace) != {str(a) for a in handled_spec})
    note = (annotation or "").strip()
    note_new = bool(note) and not (isinstance(handled_annotation, str)
                                   and _annotation_request(note, annotation_addresses)
                                   == _annotation_request(handled_annotation))
    addresses = [*(spec_replace if spec_new else ()), *(annotation_addresses if note_new else ())]
    return ReplaceRequest(tuple(dict.fromkeys(addresses)), tuple(spec_replace) if spec_new else None,
                          note if note_new else None)


def _annotation_request(value: str, addresses: Sequence[str] | None = None) -> tuple[frozenset[str], str]:
    """What identifies an annotation request: its set of addresses and its token (split_request)."""
    parsed, token = split_request(value)
    return frozenset(parsed if addresses is None else addresses), token


def forget_handled_replace(status: dict[str, Any], spec_replace: Sequence[str], annotation: str | None) -> None:
    """Re-arming a one-shot replacement: once spec.replace is emptied (or removed) its handled list is
    forgotten, and so is the handled annotation value once the annotation is gone (or blank), so that adding
    the same list or value again later replaces again (a GitOps clean-up, then the same request weeks
    later)."""
    if not spec_replace:
        status.pop("lastHandledSpecReplace", None)
    if not (annotation or "").strip():
        status.pop("lastHandledReplace", None)


def carried_replacements(unapplied: Any, spec_replace: Sequence[str],
                         annotation_addresses: Sequence[str]) -> tuple[str, ...]:
    """Pure: the replacements of a plan that was never applied (`status.plan.replace`: a pending plan that a
    new commit or a replan discards, or one whose adopted apply failed) which the next plan makes again, so
    a discarded plan does not consume them: those still requested by spec.replace or the annotation (taking
    the request away cancels them). An applied plan leaves no `status.plan.replace`."""
    if not isinstance(unapplied, list | tuple):
        return ()
    wanted = {*spec_replace, *annotation_addresses}
    return tuple(dict.fromkeys(str(a) for a in unapplied if str(a) in wanted))


@dataclass(frozen=True)
class ApplyFailures:
    """`status.applyFailures`: failed applies in a row (issue 20, spec.remediation.retries), with what they
    failed with — the inputs digest, the requested-at value and the object's metadata.generation (a new one
    of any starts a new streak) — and the last error."""

    count: int = 0
    inputs_digest: str = ""
    requested_at: str = ""
    last_error: str = ""
    generation: int = 0

    @classmethod
    def of(cls, status: Mapping[str, Any]) -> ApplyFailures:
        raw = status.get("applyFailures")
        if not isinstance(raw, Mapping):
            return cls()
        count, generation = raw.get("count"), raw.get("generation")
        return cls(count if isinstance(count, int) and not isinstance(count, bool) else 0,
                   str(raw.get("inputsDigest") or ""), str(raw.get("requestedAt") or ""),
                   str(raw.get("lastError") or ""),
                   generation if isinstance(generation, int) and not isinstance(generation, bool) else 0)

    def to_status(self) -> dict[str, Any]:
        return {"count": self.count, "inputsDigest": self.inputs_digest, "requestedAt": self.requested_at,
                "lastError": self.last_error, "generation": self.generation}


def same_streak(failures: ApplyFailures, inputs_digest: str, requested_at: str, generation: int) -> bool:
    """The inputs, the reconcile request and the spec (metadata.generation: any edit of the spec, also of a
    field outside the inputs digest such as spec.timeout, parallelism or runnerPod) are those the recorded
    failures happened with."""
    return failures.count > 0 and (failures.inputs_digest, failures.requested_at, failures.generation) == \
        (inputs_digest, requested_at, generation)


def retries_exhausted(failures: ApplyFailures, retries: int | None, inputs_digest: str, requested_at: str,
                      generation: int) -> bool:
    """Stop applying (Stalled RetriesExhausted): `retries` retries after the first failure have failed too, and
    neither the inputs, nor the spec changed, nor a reconcile was requested since. Unset `retries`: retry
    forever."""
    return retries is not None and same_streak(failures, inputs_digest, requested_at, generation) and \
        failures.count > retries


def after_apply(failures: ApplyFailures, *, succeeded: bool, inputs_digest: str, requested_at: str,
                generation: int, error: str) -> ApplyFailures | None:
    """The streak after one apply: cleared by a success, else one more failure (a new streak of one when
    the inputs, the spec or the request changed). None: cleared."""
    if succeeded:
        return None
    count = failures.count + 1 if same_streak(failures, inputs_digest, requested_at, generation) else 1
    return ApplyFailures(count, inputs_digest, requested_at, error, generation)


@dataclass(frozen=True)
class ApplyResult:
    """What one apply itself did (issue 20, spec.remediation.retries): succeeded, or failed with `error`
    (`Reason: message`). Only the apply's own result: a step after a successful apply that fails (the
    outputs Secret, a health check) is no failed apply, and a wait for someone else's lock is no result."""

    succeeded: bool
    inputs_digest: str
    error: str = ""


def streak_after(failures: ApplyFailures, results: Sequence[ApplyResult], requested_at: str,
                 generation: int) -> ApplyFailures | None:
    """Pure: status.applyFailures after a reconcile's applies, in the order they ended (an adopted apply of an
    earlier controller, then this reconcile's own): `failures` unchanged when none ran, None when cleared."""
    for result in results:
        failures = after_apply(failures, succeeded=result.succeeded, inputs_digest=result.inputs_digest,
                               requested_at=requested_at, generation=generation,
                               error=result.error[:300]) or ApplyFailures()
    return failures if failures.count else None


RESUMES_WHEN = ("the spec changes (a new metadata.generation: any edit of spec, also of spec.timeout, "
                "parallelism or runnerPod), the inputs digest changes (the module's files, vars and varsFrom "
                "values, env, the backend, workspace, Terraform version, targets, tfVarsFiles, fileMappings or "
                "cliConfigSecretRef contents; a commit that changes none of them does not count), or a "
                "reconcile is requested")


def retries_message(failures: ApplyFailures, retries: int, reconcile_command: str) -> str:
    tries = f"{failures.count} applies in a row failed" if failures.count > 1 else "the apply failed"
    return (f"{tries} (spec.remediation.retries: {retries}); last error: {failures.last_error}. Not retried until "
            f"{RESUMES_WHEN}: `{reconcile_command}`")
