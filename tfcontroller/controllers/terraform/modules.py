"""The module a Terraform object runs, inspected once per artifact and path, and the module part of its
inputs digest (rules §4.1, §4.9), cached per artifact, path, workspace and the variables the object sets.
Both caches live on the reconciler (`ctx.ctl`), shared by every reconcile and bounded."""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tfcontroller.api import conditions as c
from tfcontroller.api.errors import StallingError
from tfcontroller.api.terraform import tf_vars_file_shown, tf_vars_json_problem
from tfcontroller.controllers.terraform import policy
from tfcontroller.controllers.terraform.context import RunContext
from tfcontroller.controllers.terraform.inputs import ResolvedInputs
from tfcontroller.source.artifact import ModuleInputs, module_inputs, read_files
from tfcontroller.source.errors import ArtifactTooLargeError, PathNotFoundError
from tfcontroller.source.module_reads import ANY_VARIABLE, var_file_names
from tfcontroller.terraform.archive import extract_artifact, read_module_files, resolve_subpath
from tfcontroller.terraform.errors import ArtifactError
from tfcontroller.terraform.inspect import ModuleInfo, ModuleParseError, inspect_files, inspect_module
from tfcontroller.terraform.workspace import TFVARS_FILES_INVALID

CACHE_LIMIT = 256  # entries per cache; cleared when exceeded


def path_not_found(ctx: RunContext) -> StallingError:
    """`spec.path` is not in the revision: Stalled until the object or the repository changes."""
    return StallingError(c.ARTIFACT_FAILED, f"path {ctx.tf.spec.path!r} not found in revision {ctx.source.revision}")


def module_info(ctx: RunContext) -> ModuleInfo | None:
    ctl = ctx.ctl
    cache_key = (ctx.source.artifact_digest, ctx.tf.spec.path)
    with ctl.lock:
        if cache_key in ctl.modules_cache:
            return ctl.modules_cache[cache_key]
    assert ctx.source.artifact_path is not None
    info: ModuleInfo | None
    files = read_module_files(ctx.source.artifact_path, ctx.tf.spec.path)  # plain files and directories only
    try:
        if files is not None:
            info = inspect_files(files)
        else:  # links, odd names...: the safe extraction judges them (and refuses what escapes)
            with tempfile.TemporaryDirectory(dir=ctl.options.work_dir) as tmp:
                src = Path(tmp) / "src"
                extract_artifact(ctx.source.artifact_path, src)  # refuses traversal and links leaving the tree
                info = inspect_module(resolve_subpath(src, ctx.tf.spec.path))
    except ModuleParseError:
        info = None  # python-hcl2 lags the language: let terraform judge the module
    except ArtifactError as exc:
        if exc.reason != "PathNotFound":
            raise
        raise path_not_found(ctx) from None
    with ctl.lock:
        if len(ctl.modules_cache) > CACHE_LIMIT:
            ctl.modules_cache.clear()
        ctl.modules_cache[cache_key] = info
    return info


@dataclass(frozen=True)
class VarFiles:
    """What spec.tfVarsFiles contribute before a run: each file's content digest (in order) for the
    inputs digest, and the variables they set (`ANY_VARIABLE` when one cannot be parsed here)."""

    digests: tuple[tuple[str, str], ...] = ()
    names: frozenset[str] = frozenset()

    def provided(self, declared: ModuleInfo | None) -> set[str]:
        """The variables they set, for the missing-variables check: all declared ones when unknown."""
        if ANY_VARIABLE in self.names:
            return set(declared.variables) if declared else set()
        return set(self.names)


def var_files(ctx: RunContext) -> VarFiles:
    """Read spec.tfVarsFiles from the artifact. A file that is not there, or a `.tfvars.json` that is not a
    JSON object (api.terraform.tf_vars_json_problem), stalls with `TfVarsFilesInvalid` before any run: only
    a new revision or a spec change can fix it (the run checks again, after extraction, that a link does
    not leave the artifact)."""
    wanted = ctx.tf.spec.tf_vars_files
    if not wanted:
        return VarFiles()
    assert ctx.source.artifact_path is not None
    try:
        found = read_files(ctx.source.artifact_path, wanted)
    except ArtifactTooLargeError as exc:
        raise ArtifactError(exc.reason, exc.message) from None
    for i, name in enumerate(wanted):
        if name not in found:
            shown = tf_vars_file_shown(name, ctx.tf.spec.path)
            raise StallingError(TFVARS_FILES_INVALID, f"spec.tfVarsFiles[{i}]: {shown} is not a file in revision "
                                                      f"{ctx.source.revision}: fix the path (relative to spec.path "
                                                      f"{ctx.tf.spec.path!r}) or add the file to the source")
    for i, name in enumerate(wanted):
        why = tf_vars_json_problem(found[name]) if name.endswith(".json") else None
        if why:  # before any run: Terraform would refuse it on every attempt
            shown = tf_vars_file_shown(name, ctx.tf.spec.path)
            raise StallingError(TFVARS_FILES_INVALID, f"spec.tfVarsFiles[{i}]: {shown} in revision "
                                                      f"{ctx.source.revision} {why}: fix the file")
    texts = {name: found[name].decode("utf-8", "replace") for name in wanted}
    return VarFiles(tuple((name, "sha256:" + hashlib.sha256(found[name]).hexdigest()) for name in wanted),
                    frozenset(var_file_names(texts)))


def module_digest(ctx: RunContext, inputs: ResolvedInputs, files: VarFiles | None = None) -> ModuleInputs:
    """The module part of the inputs digest (rules §4.1, §4.9): the module, its local modules and the
    files they read, or the whole artifact when a read is not static. It depends on which root
    variables the object sets (their defaults then resolve no path), on the values of those that are
    literal strings in `spec.vars` (public, unless the module declares them sensitive: they resolve
    paths), and on the workspace. Variables set by spec.tfVarsFiles (`files`) count as set."""
    ctl = ctx.ctl
    tf = ctx.tf
    declared = ctx.inputs.module_info.variables if ctx.inputs.module_info else {}
    provided, known = policy.path_variables(
        inputs.variables, inputs.env,
        {v.name: v.value for v in tf.spec.vars if v.literal},
        {name for name, var in declared.items() if not var.sensitive})
    provided = provided | (files.names if files else frozenset())
    cache_key = (ctx.source.artifact_digest, tf.spec.path, provided, tuple(sorted(known.items())),
                 tf.spec.workspace)
    with ctl.lock:
        found = ctl.module_inputs_cache.get(cache_key)
    if found is not None:
        return found
    assert ctx.source.artifact_path is not None
    try:
        found = module_inputs(ctx.source.artifact_path, tf.spec.path, provided, known, tf.spec.workspace)
    except PathNotFoundError:
        raise path_not_found(ctx) from None
    except ArtifactTooLargeError as exc:  # the same artifact can only fail again: Stalled, as extraction
        raise ArtifactError(exc.reason, exc.message) from None
    with ctl.lock:
        if len(ctl.module_inputs_cache) > CACHE_LIMIT:
            ctl.module_inputs_cache.clear()
        ctl.module_inputs_cache[cache_key] = found
    return found


