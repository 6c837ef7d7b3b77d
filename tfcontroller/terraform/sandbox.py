"""The local runner's sandbox (`--runner=local`, issue 15): `tfcontroller runner run` under bubblewrap.

A module is code. In local mode the runner is a subprocess of the controller, so as a defence in depth
it runs in namespaces of its own, where the kernel allows them:
- its own PID namespace with its own `/proc`: the controller's processes, their environment
  (`/proc/<pid>/environ`) and command lines do not exist inside;
- its own mount namespace built from an allow-list: `/usr`, `/etc`, `/opt` and the `/bin`, `/sbin`,
  `/lib*` links read-only, the Python that runs the runner and the `tfcontroller` package read-only,
  Terraform and its provider mirror read-only, the plugin cache and the run's own exchange directory
  read-write, a fresh `/tmp`. Not there: the controller's home, kubeconfig, token
  (`/var/run/secrets/...`), work directory, other runs, keys;
- its own IPC and UTS namespaces, no capabilities (`--cap-drop ALL` when the controller runs as root),
  an environment built here from nothing (`--clearenv`), the host's network (the API server, the
  artifact server and cloud endpoints stay reachable; the per-run credential decides what it may do).

What is *not* isolated in local mode: the network and the user id; and the credential the controller
hands the run (docs/architecture.md, "Runner pods"). Where bubblewrap is missing or cannot create the
namespaces (`probe`), the runner runs unsandboxed with the same cleared environment.

`sandbox_argv` and `runner_env` are pure (unit-tested); `probe` and `start_runner` touch the system.
"""

from __future__ import annotations

import compileall
import logging
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from tfcontroller.terraform.config import ENV_BINARY, ENV_PLUGIN_CACHE, ENV_PLUGIN_MIRROR, TerraformConfig

log = logging.getLogger(__name__)

HOST_ALLOW_LIST = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# The sandbox's own UTS namespace keeps the controller's host name: Terraform records a state lock as
# `Who = user@host`, and the rule that releases a lock left by a dead run of ours (design.md §4.4,
# controllers/terraform/locks.lock_attributable) attributes it by that host. The name is no secret.
HOSTNAME = "tfcontroller-runner"  # only where the spec names none (tests of the command line)
# Inside the sandbox the run's exchange directory and its kubeconfig are at fixed paths, whatever they
# are on the host: a saved plan records the backend configuration (the kubeconfig's path), so the apply
# must find it where the plan had it — also when another controller (a restarted one with another work
# directory, a new leader) applies a plan this one made.
EXCHANGE_MOUNT = "/run/tfcontroller/run"
# The run's inbox (the controller's inputs: request, artifact, plan.in; issue 21), read-only inside: the
# module's code can write the exchange directory, never what the controller asked for
INBOX_MOUNT = "/run/tfcontroller/in"
KUBECONFIG_MOUNT = "/run/tfcontroller/kubeconfig"
# The object's init cache directory (terraform/initcache.py), read-write: it belongs to this one object,
# whose runs are serialised, and holds only what init writes (design.md §5, as in-process before).
INIT_CACHE_MOUNT = "/run/tfcontroller/init"
# Taken from the controller's environment into the runner's: locale and trust store, nothing else.
PASSED_ENV = ("LANG", "LC_ALL", "TZ", "SSL_CERT_FILE", "SSL_CERT_DIR")


@dataclass(frozen=True)
class SandboxSpec:
    read_only: tuple[str, ...]  # host paths mounted at the same place, read-only
    read_write: tuple[str, ...]  # host paths mounted at the same place, writable
    env: Mapping[str, str]  # the runner's whole environment
    workdir: str
    mounts: tuple[tuple[str, str, bool], ...] = ()  # (host path, path inside, read-only) at another place
    drop_caps: bool = False  # the controller runs as root: drop every capability inside
    hostname: str = HOSTNAME  # local runs: the controller's (see HOSTNAME)
    links: tuple[tuple[str, str], ...] = ()  # (target, path): host symlinks among the mounted paths, kept links


def sandbox_argv(spec: SandboxSpec, command: Sequence[str], bwrap: str = "bwrap",
                 host_links: Mapping[str, str] | None = None) -> list[str]:
    """bwrap's command line for `command`. `host_links` maps allow-listed paths that are symlinks on the
    host to their targets (`/bin` → `usr/bin`); the others are mounted when they exist. Pure."""
    links = dict(host_links) if host_links is not None else _host_links()
    # --as-pid-1: no bwrap init inside holding the runner's stdin (a dumpable pid 1 with the pipe's fd 0
    # would let the module's code open /proc/1/fd/0 for writing and speak for the controller; bwrap 0.8+)
    argv = [bwrap, "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try", "--as-pid-1",
            "--hostname", spec.hostname]
    for path in HOST_ALLOW_LIST:
        if path in links:
            argv += ["--symlink", links[path], path]
        elif host_links is not None or os.path.isdir(path):
            argv += ["--ro-bind", path, path]
    argv += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    for path in spec.read_only:
        argv += ["--ro-bind", path, path]
    for target, path in spec.links:
        argv += ["--symlink", target, path]
    for path in spec.read_write:
        argv += ["--bind", path, path]
    for source, target, read_only in spec.mounts:
        argv += ["--ro-bind" if read_only else "--bind", source, target]
    argv += ["--chdir", spec.workdir, "--clearenv"]
    for name, value in spec.env.items():
        argv += ["--setenv", name, value]
    if spec.drop_caps:
        argv += ["--cap-drop", "ALL"]
    return [*argv, "--", *command]


def _host_links() -> dict[str, str]:
    return {p: os.readlink(p) for p in HOST_ALLOW_LIST if os.path.islink(p)}


def runner_command(exchange: str, kubeconfig: str | None, python: str | None = None,
                   init_cache: str | None = None, await_apply: float | None = None,
                   inbox: str | None = None, status_fd: int | None = None) -> list[str]:
    """`tfcontroller runner run` with the Python that runs the controller (its venv, not resolved
    through symlinks: a venv is recognised by where its interpreter is called from). `await_apply`: a plan
    run waits that many seconds for its apply to be handed over (runner/commands.py)."""
    argv = [python or sys.executable, "-m", "tfcontroller", "runner", "run", "--exchange", exchange,
            "--stop-on-stdin-eof"]
    argv += ["--inbox", inbox] if inbox else []
    argv += ["--kubeconfig", kubeconfig] if kubeconfig else []
    argv += ["--await-apply", f"{await_apply:g}"] if await_apply else []
    argv += ["--status-fd", str(status_fd)] if status_fd is not None else []
    return argv + (["--init-cache", init_cache] if init_cache else [])


def runner_env(exchange: str, config: TerraformConfig, package_root: str,
               controller_env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The runner's whole environment, built from nothing: where Terraform and the providers are, where
    the `tfcontroller` package is, locale and trust store. Never a credential of the controller. Pure."""
    source = os.environ if controller_env is None else controller_env
    env = {k: source[k] for k in PASSED_ENV if k in source}
    terraform_dir = str(Path(config.binary).parent)
    env.update({
        "PATH": f"{terraform_dir}:{DEFAULT_PATH}" if terraform_dir not in DEFAULT_PATH.split(":") else DEFAULT_PATH,
        "HOME": exchange,
        "TMPDIR": "/tmp",
        "PYTHONPATH": package_root,
        "PYTHONDONTWRITEBYTECODE": "1",
        ENV_BINARY: config.binary,
    })
    if config.plugin_mirror_dir is not None:
        env[ENV_PLUGIN_MIRROR] = str(config.plugin_mirror_dir)
    if config.plugin_cache_dir is not None:
        env[ENV_PLUGIN_CACHE] = str(config.plugin_cache_dir)
    return env


def runner_kubeconfig(kubeconfig: Path | None, sandboxed: bool) -> str | None:
    """The path of the run's kubeconfig as the runner (and Terraform's backend, and so a saved plan) sees it:
    KUBECONFIG_MOUNT in the sandbox, the host path without one. Pure."""
    if kubeconfig is None:
        return None
    return KUBECONFIG_MOUNT if sandboxed else str(kubeconfig)


def local_spec(exchange: Path, kubeconfig: Path | None, config: TerraformConfig, env: Mapping[str, str],
               python_prefixes: Sequence[str] | None = None, package_dir: str | None = None,
               init_cache: Path | None = None, hostname: str | None = None,
               symlinks: Mapping[str, str] | None = None, inbox: Path | None = None) -> SandboxSpec:
    """What a local run mounts: the interpreter and its venv, the package, Terraform and its providers
    (read-only), the plugin cache (writable), the exchange directory (writable) at EXCHANGE_MOUNT, the
    run's inbox (read-only) at INBOX_MOUNT, the
    object's init cache (writable) at INIT_CACHE_MOUNT and the run's kubeconfig (read-only) at KUBECONFIG_MOUNT.

    A mounted path that is a symlink on the host (`symlinks`: path → resolved target; a venv linked from
    a worktree) stays a symlink inside, to its target mounted at its own path: bound as a directory it
    would resolve to another path than outside, and libraries that key caches on resolved paths (hcl2's
    parser cache, ~1.4 s to rebuild) would miss them in every run."""
    prefixes = python_prefixes if python_prefixes is not None else _python_prefixes()
    package = package_dir or str(Path(__file__).resolve().parents[1])
    read_only = [*prefixes, package, str(Path(config.binary).resolve().parent)]
    if config.plugin_mirror_dir is not None:
        read_only.append(str(config.plugin_mirror_dir))
    for name in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
        if env.get(name):
            read_only.append(env[name])
    read_write = [str(config.plugin_cache_dir)] if config.plugin_cache_dir is not None else []
    mounts = [(str(exchange), EXCHANGE_MOUNT, False)]
    if inbox is not None:
        mounts.append((str(inbox), INBOX_MOUNT, True))
    if init_cache is not None:
        mounts.append((str(init_cache), INIT_CACHE_MOUNT, False))
    if kubeconfig is not None:
        mounts.append((str(kubeconfig), KUBECONFIG_MOUNT, True))
    kept = _unique(read_only)
    links = dict(symlinks) if symlinks is not None else _symlinks(kept)
    bound = _unique([links.get(p, p) for p in kept])
    return SandboxSpec(read_only=tuple(_outside_allow_list(bound)), read_write=tuple(read_write),
                       env=dict(env), workdir=EXCHANGE_MOUNT, mounts=tuple(mounts), drop_caps=os.geteuid() == 0,
                       hostname=hostname or socket.gethostname(),
                       links=tuple((target, path) for path, target in links.items() if path in kept))


def _symlinks(paths: Iterable[str]) -> dict[str, str]:
    return {p: os.path.realpath(p) for p in paths if os.path.islink(p)}


def _python_prefixes() -> list[str]:
    """The venv (as called, and where its link points) and the base interpreter's prefix."""
    paths = [sys.prefix, os.path.realpath(sys.prefix), sys.base_prefix, os.path.realpath(sys.base_prefix)]
    return _unique(p for p in paths if p)


def _unique(paths: Iterable[str]) -> list[str]:
    seen: list[str] = []
    for p in paths:
        if p not in seen:
            seen.append(p)
    return seen


def _outside_allow_list(paths: Sequence[str]) -> list[str]:
    def under(path: str, root: str) -> bool:
        return path == root or path.startswith(root.rstrip("/") + "/")

    return [p for p in paths if not any(under(p, root) for root in HOST_ALLOW_LIST)]


def probe(bwrap: str = "bwrap") -> str | None:
    """None when bubblewrap can create the sandbox's namespaces here, else why not (for a log line)."""
    found = shutil.which(bwrap)
    if found is None:
        return f"{bwrap} not found on PATH"
    spec = SandboxSpec(read_only=(), read_write=(), env={"PATH": DEFAULT_PATH}, workdir="/",
                       drop_caps=os.geteuid() == 0)
    try:
        done = subprocess.run(sandbox_argv(spec, ["true"], found), capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{bwrap} failed: {exc}"
    if done.returncode != 0:
        return f"{bwrap} cannot create namespaces here: {done.stderr.decode(errors='replace').strip()}"
    return None


_BYTECODE_LOCK = threading.Lock()
_BYTECODE: dict[str, bool] = {}


def ensure_bytecode(package_dir: str) -> bool:
    """Compile the package's modules to bytecode (`__pycache__`) once per controller process, where the
    package directory is writable; True when every module compiled.

    Why: the sandbox mounts the package read-only and the runner runs with PYTHONDONTWRITEBYTECODE, so a
    module without a `.pyc` (a clean checkout, an editable install, a controller started with
    PYTHONDONTWRITEBYTECODE: the runner's own modules are never imported by the controller) is compiled from
    source in every run: ~0.2 s of CPU per run for the ~55 modules a run imports (issue 21). An installed
    wheel has its bytecode already (pip compiles at install); then this only checks timestamps.

    Once per package directory, under a lock: workers starting their first runners at the same moment do
    not each compile the package. Where it cannot write (a read-only install without bytecode) it says so
    once: runs then compile in memory, slower but correct."""
    with _BYTECODE_LOCK:
        done = _BYTECODE.get(package_dir)
        if done is None:
            done = _BYTECODE[package_dir] = bool(compileall.compile_dir(package_dir, quiet=2))
            if not done:
                log.info("the tfcontroller package at %s cannot be compiled to bytecode in place (read-only?): "
                         "each runner compiles the modules it imports (~0.2 s of CPU per run)", package_dir)
        return done


def start_runner(exchange: Path, config: TerraformConfig, *, kubeconfig: Path | None, sandboxed: bool,
                 log: IO[bytes], bwrap: str = "bwrap", init_cache: Path | None = None,
                 await_apply: float | None = None, inbox: Path | None = None,
                 status_fd: int | None = None) -> subprocess.Popen[bytes]:
    """Start `tfcontroller runner run` for the request in `exchange`, sandboxed or not, in its own process
    group, its stdin a pipe that only the caller holds (closing it, or the caller's death, stops the run
    gracefully), its output to `log`. `kubeconfig` is the run's own identity (None: in-cluster); unsandboxed,
    its path must not change between a plan and the apply of that plan (the plan records it). `inbox`: the
    directory of the controller's inputs, mounted read-only (None: they are in `exchange`). `status_fd`: the
    write end of a pipe passed to the runner (same number inside), on which it announces a held plan's result
    (`--status-fd`): a channel the module's code cannot write, unlike the exchange directory.

    Stop a run by closing its stdin, never by signalling its process group: bwrap's monitor does not
    forward signals, so a SIGTERM would end it at once while the runner inside goes on unseen (its exit,
    and its result, would come after the caller stopped waiting)."""
    package_dir = str(Path(__file__).resolve().parents[1])
    package_root = str(Path(package_dir).parent)
    ensure_bytecode(package_dir)
    if sandboxed:
        env = runner_env(EXCHANGE_MOUNT, config, package_root)
        spec = local_spec(exchange, kubeconfig, config, env, package_dir=package_dir, init_cache=init_cache,
                          inbox=inbox)
        command = runner_command(EXCHANGE_MOUNT, runner_kubeconfig(kubeconfig, sandboxed),
                                 init_cache=INIT_CACHE_MOUNT if init_cache is not None else None,
                                 await_apply=await_apply, inbox=INBOX_MOUNT if inbox is not None else None,
                                 status_fd=status_fd)
        argv, popen_env = sandbox_argv(spec, command, shutil.which(bwrap) or bwrap), {"PATH": DEFAULT_PATH}
    else:
        env = runner_env(str(exchange), config, package_root)
        argv = runner_command(str(exchange), runner_kubeconfig(kubeconfig, sandboxed),
                              init_cache=str(init_cache) if init_cache is not None else None, await_apply=await_apply,
                              inbox=str(inbox) if inbox is not None else None, status_fd=status_fd)
        popen_env = env
    return subprocess.Popen(argv, cwd=exchange, env=popen_env, stdin=subprocess.PIPE, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True,
                            pass_fds=(status_fd,) if status_fd is not None else ())
