"""The module a Terraform object runs, inspected once per artifact and path, and the module part of its
inputs digest (rules §4.1, §4.9), cached per artifact, path, workspace and the variables the object sets.
Both caches live on the reconciler (`ctx.ctl`), shared by every reconcile and bounded."""

from __future__ import annotations

import tempfile
from pathlib import Path

from tfcontroller.api import conditions as c
from tfcontroller.api.errors import StallingError
from tfcontroller.controllers.terraform import policy
from tfcontroller.controllers.terraform.context import RunContext
from tfcontroller.controllers.terraform.inputs import ResolvedInputs
from tfcontroller.source.artifact import ModuleInputs, module_inputs
from tfcontroller.source.errors import PathNotFoundError
from tfcontroller.terraform.archive import extract_artifact, read_module_files, resolve_subpath
from tfcontroller.terraform.errors import ArtifactError
from tfcontroller.terraform.inspect import ModuleInfo, ModuleParseError, inspect_files, inspect_module

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


def module_digest(ctx: RunContext, inputs: ResolvedInputs) -> ModuleInputs:
    """The module part of the inputs digest (rules §4.1, §4.9): the module, its local modules and the
    files they read, or the whole artifact when a read is not static. It depends on which root
    variables the object sets (their defaults then resolve no path), on the values of those that are
    literal strings in `spec.vars` (public, unless the module declares them sensitive: they resolve
    paths), and on the workspace."""
    ctl = ctx.ctl
    tf = ctx.tf
    declared = ctx.inputs.module_info.variables if ctx.inputs.module_info else {}
    provided, known = policy.path_variables(
        inputs.variables, inputs.env,
        {v.name: v.value for v in tf.spec.vars if not v.sealed},
        {name for name, var in declared.items() if not var.sensitive})
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
    with ctl.lock:
        if len(ctl.module_inputs_cache) > CACHE_LIMIT:
            ctl.module_inputs_cache.clear()
        ctl.module_inputs_cache[cache_key] = found
    return found


