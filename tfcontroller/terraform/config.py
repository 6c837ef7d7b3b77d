"""How the controller runs Terraform: which binary, where providers come from, time limits.

Provider plugins are never downloaded during a run: the generated CLI configuration lists only the
filesystem mirror (and the `direct` registry method only when an operator explicitly allows it), so `init`
works offline. A shared plugin cache, when configured, is linked into each run's data directory by
Terraform itself (symlinks, never copies).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ENV_BINARY = "TFCONTROLLER_TERRAFORM_BINARY"
ENV_PLUGIN_MIRROR = "TFCONTROLLER_PLUGIN_MIRROR"
ENV_PLUGIN_CACHE = "TFCONTROLLER_PLUGIN_CACHE"
DEFAULT_PLUGIN_MIRROR = Path("/opt/tf-plugins")


@dataclass(frozen=True)
class Timeouts:
    """Seconds per command; `grace` is the wait between SIGINT and SIGKILL."""

    init: float = 300.0
    plan: float = 1200.0
    apply: float = 1800.0
    short: float = 120.0  # version, workspace, validate, show, output, force-unlock
    grace: float = 30.0

    def bounded_by(self, spec_timeout: float) -> Timeouts:
        """The limits of one object's Terraform commands: `spec.timeout` bounds each command (init, plan,
        apply, ...); the shorter limit of quick commands (show, output, ...) still applies, and so does the
        grace period between SIGINT and SIGKILL. The one rule for the controller and the runner."""
        limit = max(1.0, float(spec_timeout))
        return Timeouts(init=limit, plan=limit, apply=limit, short=min(self.short, limit), grace=self.grace)


@dataclass(frozen=True)
class TerraformConfig:
    binary: str
    plugin_mirror_dir: Path | None = None
    plugin_cache_dir: Path | None = None
    allow_direct_provider_downloads: bool = False
    keep_failed_workspaces: bool = False
    timeouts: Timeouts = Timeouts()

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        binary: str | None = None,
        plugin_mirror_dir: str | Path | None = None,
        plugin_cache_dir: str | Path | None = None,
        keep_failed_workspaces: bool = False,
        timeouts: Timeouts | None = None,
    ) -> TerraformConfig:
        """Explicit arguments (command-line flags) win over the environment, which wins over defaults.

        Relative paths are made absolute against the controller's working directory here (`_absolute`):
        Terraform runs in the module's directory, where `./bin/terraform` or a relative mirror in the CLI
        configuration would name something else (review s19, finding 6)."""
        env = os.environ if environ is None else environ
        chosen = binary or env.get(ENV_BINARY) or shutil.which("terraform", path=env.get("PATH"))
        if not chosen:
            raise FileNotFoundError(f"terraform not found on PATH; set {ENV_BINARY} or pass --terraform-binary")
        mirror: Path | None
        if plugin_mirror_dir is not None:
            mirror = Path(plugin_mirror_dir)
        elif env.get(ENV_PLUGIN_MIRROR):
            mirror = Path(env[ENV_PLUGIN_MIRROR])
        else:
            mirror = DEFAULT_PLUGIN_MIRROR if DEFAULT_PLUGIN_MIRROR.is_dir() else None
        cache = plugin_cache_dir if plugin_cache_dir is not None else env.get(ENV_PLUGIN_CACHE) or None
        return cls(
            binary=_absolute(str(chosen)) if os.sep in str(chosen) else str(chosen),  # a bare name: PATH
            plugin_mirror_dir=Path(_absolute(mirror)) if mirror is not None else None,
            plugin_cache_dir=Path(_absolute(cache)) if cache else None,
            keep_failed_workspaces=keep_failed_workspaces,
            timeouts=timeouts or Timeouts(),
        )

    def cli_config(self) -> dict[str, object]:
        """The CLI configuration as data. Terraform reads JSON CLI config files, which spares us quoting."""
        methods: list[dict[str, object]] = []
        if self.plugin_mirror_dir is not None:
            methods.append({"filesystem_mirror": [{"path": str(self.plugin_mirror_dir)}]})
        if self.allow_direct_provider_downloads:
            methods.append({"direct": [{}]})
        config: dict[str, object] = {"provider_installation": [{k: v for m in methods for k, v in m.items()}]}
        if self.plugin_cache_dir is not None:
            config["plugin_cache_dir"] = str(self.plugin_cache_dir)
            # Modules in Git often have no lock file (or one with other platforms' hashes); without this
            # Terraform ignores the cache for them and installs a second copy from the mirror.
            config["plugin_cache_may_break_dependency_lock_file"] = True
        return config

    def write_cli_config(self, path: Path) -> Path:
        if self.plugin_cache_dir is not None:
            self.plugin_cache_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.cli_config(), indent=2) + "\n")
        return path


def _absolute(path: str | os.PathLike[str]) -> str:
    """`path` against the current directory, without following links (the operator's name is kept)."""
    return os.path.abspath(os.fspath(path))
