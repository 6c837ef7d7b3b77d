"""How one container runs as a sandboxed host process: the bubblewrap (`bwrap`) command line and the
cgroup v1 memory cgroup that enforces `resources.limits.memory`.

The sandbox mounts an allow-list of host directories read-only (`/usr`, `/etc`, `/opt` and the
`/bin`, `/lib*`, `/sbin` links), never the whole host: whatever is not listed — `/root`, `/work`, the
dev cluster's state and kubeconfig, the controller's files, other Pods' volumes — does not exist inside.
Paths that must stay hidden but fall under an allowed directory get an empty tmpfs over them, and so
do the host's *private* files there — those not readable by every user (`/etc/shadow`, SSH host keys,
a database's `pg_hba.conf`): a container may run as uid 0 or join any group (runAsUser, runAsGroup,
supplementalGroups), and without capabilities uid 0 still reads what root owns. As runc does, `/proc/sys`,
`/proc/sysrq-trigger`, `/proc/irq`, `/proc/bus` and `/proc/fs` are read-only (a uid-0 container could
otherwise set host-wide sysctls such as `kernel.core_pattern`, which runs a program as the host's root)
and `/proc/kcore`, `/proc/keys`, `/proc/timer_list`… are masked. `/dev` is bwrap's minimal one (null,
zero, full, random, urandom, tty, pts) with a fresh 1777 tmpfs `/dev/shm`. The
container gets its own PID namespace with its own `/proc` (`--as-pid-1`: the command is PID 1, as in
a real container, so a SIGTERM it does not handle is ignored until the SIGKILL after the grace period),
its own mount, IPC and UTS namespaces, the host's network, a writable tmpfs `/tmp`, and runs as
`runAsUser`/`runAsGroup` with no capabilities and `no_new_privs` (setpriv from util-linux does the
switch inside the sandbox: bwrap running as root cannot change uid without a user namespace, and a user
namespace would map root-owned host files to the container's uid). Changing the uid clears bwrap's
`--die-with-parent`, so setpriv sets the parent-death signal again: a container never outlives its
bwrap monitor.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

# Host directories a container sees (read-only), when they exist. Symlinks (/bin -> usr/bin) are
# recreated as links.
HOST_ALLOW_LIST = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CGROUP_MEMORY_ROOT = Path("/sys/fs/cgroup/memory")
# runc's defaults (its readonlyPaths and maskedPaths), present in /proc on this kernel or not.
NOBODY = 65534
PROC_READ_ONLY = ("sys", "sysrq-trigger", "irq", "bus", "fs")
PROC_MASKED = ("kcore", "keys", "timer_list", "timer_stats", "sched_debug", "latency_stats", "acpi", "scsi")


@dataclass(frozen=True)
class Mount:
    source: str  # host path
    target: str  # path inside the container
    read_only: bool
    fd: int | None = None  # an O_PATH descriptor of `source` to bind instead of the path (subPath)


@dataclass
class SandboxSpec:
    argv: list[str]  # command + args, already expanded
    env: dict[str, str]
    uid: int
    gid: int
    supplemental_groups: list[int] = field(default_factory=list)
    working_dir: str = ""
    hostname: str = ""
    mounts: list[Mount] = field(default_factory=list)
    hidden: list[str] = field(default_factory=list)  # host paths to cover with an empty tmpfs
    private: PrivatePaths | None = None  # host files and directories not readable by every user: masked
    read_only_root: bool = False  # securityContext.readOnlyRootFilesystem: only volumes and /dev/shm writable
    allow_list: tuple[str, ...] = HOST_ALLOW_LIST
    image_paths: tuple[str, ...] = ()  # the image's host directories (images.py), read-only at the same path


def bwrap_argv(spec: SandboxSpec, bwrap: str = "bwrap", setpriv: str = "setpriv", info_fd: int | None = None,
               env_fd: int | None = None) -> list[str]:
    """The full command line: bwrap's namespaces and mounts, then setpriv's identity switch, then the
    container's command. With `env_fd` the environment is read by bwrap from that descriptor
    (`env_args`) instead of `--setenv` arguments. Pure: unit-tested on its output."""
    argv = [bwrap, "--die-with-parent", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--as-pid-1", "--new-session"]
    if info_fd is not None:
        argv += ["--info-fd", str(info_fd)]
    if spec.hostname:
        argv += ["--hostname", spec.hostname[:63]]
    for path in spec.allow_list:
        if os.path.islink(path):
            argv += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            argv += ["--ro-bind", path, path]
    # bwrap creates missing parents of a mount point with mode 0700, which a non-root container cannot
    # traverse: create them 0755 first (only on the sandbox's own root, never inside another mount).
    fixed = ["/", "/tmp", "/proc", "/dev", *spec.allow_list, *spec.image_paths, *(m.target for m in spec.mounts)]
    created: set[str] = {"/tmp"}
    # /tmp first: an image directory or a mount below /tmp (a checkout in /tmp, as CI clones one) goes on top
    # of the fresh /tmp instead of being covered by it; its parents there are the sandbox's own (0755).
    argv += ["--perms", "1777", "--dir" if spec.read_only_root else "--tmpfs", "/tmp"]
    for path in spec.image_paths:  # before the masks below, which cover private files in them too
        argv += _parent_dirs(path, fixed, created) + ["--ro-bind", path, path]
    argv += ["--proc", "/proc", *_proc_cover(), "--dev", "/dev", "--perms", "1777", "--tmpfs", "/dev/shm"]
    visible = (*spec.allow_list, *spec.image_paths)
    for hidden in spec.hidden:
        if any(_under(hidden, root) for root in visible) and os.path.isdir(hidden):
            argv += ["--tmpfs", hidden]
    if spec.private is not None:
        argv += _mask(spec.private.files, spec.private.dirs)
    for target in [m.target for m in spec.mounts] + ([spec.working_dir] if spec.working_dir else []):
        argv += _parent_dirs(target, fixed, created)
    if spec.working_dir and not any(_under(spec.working_dir, m.target) for m in spec.mounts) \
            and not _under(spec.working_dir, "/tmp"):
        argv += ["--perms", "1777", "--dir", spec.working_dir]
    for mount in spec.mounts:
        if mount.fd is not None:
            argv += ["--ro-bind-fd" if mount.read_only else "--bind-fd", str(mount.fd), mount.target]
        else:
            argv += ["--ro-bind" if mount.read_only else "--bind", mount.source, mount.target]
    argv += _image_paths_over_mounts(spec)
    if spec.read_only_root:  # the sandbox's own root (with /tmp and workingDir) read-only; mounts keep theirs
        argv += ["--remount-ro", "/"]
    argv += ["--chdir", spec.working_dir or "/", "--clearenv"]
    if env_fd is not None:  # the values (Secrets among them) never on a command line the host's `ps` shows
        argv += ["--args", str(env_fd)]
    else:
        for name, value in spec.env.items():
            argv += ["--setenv", name, value]
    groups = ",".join(str(g) for g in spec.supplemental_groups)
    argv += ["--", setpriv, f"--reuid={spec.uid}", f"--regid={spec.gid}",
             f"--groups={groups}" if groups else "--clear-groups",
             "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--pdeathsig=KILL", "--", *spec.argv]
    return argv


def _parent_dirs(target: str, fixed: list[str], created: set[str]) -> list[str]:
    """`--dir` arguments (mode 0755) for the ancestors of `target` that are on the sandbox's own root
    (not inside a mount; the fresh /tmp counts as the root's) and not created yet; `created` is updated."""
    argv: list[str] = []
    for parent in _parents(target):
        if parent not in created and not any(_under(parent, f) for f in fixed if f not in ("/", "/tmp")):
            argv += ["--perms", "0755", "--dir", parent]
            created.add(parent)
    return argv


def env_args(env: dict[str, str]) -> bytes:
    """The container's environment as bwrap's NUL-separated `--args` content (`--setenv NAME VALUE`…).
    Environment values hold Secrets (secretKeyRef, envFrom); a process's command line is readable by
    every user of the host, its environment is not, so they travel through a descriptor."""
    parts: list[str] = []
    for name, value in env.items():
        parts += ["--setenv", name, value]
    return b"".join(part.encode() + b"\0" for part in parts)


def _mask(files: tuple[str, ...], dirs: tuple[str, ...]) -> list[str]:
    """Cover each file with an empty read-only file and each directory with an empty read-only tmpfs."""
    argv: list[str] = []
    for path in files:
        argv += ["--ro-bind", "/dev/null", path]
    for path in dirs:
        argv += ["--perms", "0555", "--tmpfs", path, "--remount-ro", path]
    return argv


def _proc_cover() -> list[str]:
    """The sandbox's /proc made safe as runc makes a container's: the kernel-wide knobs read-only, the
    files that tell about the host's memory, keys or timers masked. The sources are the host's /proc
    (bwrap binds host paths); a /proc/sys seen through it is the same kernel's."""
    argv: list[str] = []
    for name in PROC_READ_ONLY:
        if os.path.exists(f"/proc/{name}"):
            argv += ["--ro-bind", f"/proc/{name}", f"/proc/{name}"]
    masked = [f"/proc/{name}" for name in PROC_MASKED if os.path.exists(f"/proc/{name}")]
    return argv + _mask(tuple(p for p in masked if not os.path.isdir(p)), tuple(p for p in masked if os.path.isdir(p)))


@dataclass(frozen=True)
class PrivatePaths:
    """Host files and directories under the allow-list that not every user may read."""

    files: tuple[str, ...]
    dirs: tuple[str, ...]


def find_private(roots: tuple[str, ...] = HOST_ALLOW_LIST) -> PrivatePaths:
    """Regular files without read permission for others, and directories without read or search
    permission for others (not descended), under the allow-listed roots (symlinked roots skipped: they
    point into another root). findutils' `find` does the walk (a quarter of a second for a Debian /usr,
    outside the GIL, so Pods keep starting meanwhile); cached by `private_paths`."""
    real_roots = [r for r in roots if not os.path.islink(r) and os.path.isdir(r)]
    if not real_roots:
        return PrivatePaths((), ())
    argv = ["find", *real_roots, "(", "-type", "d", "!", "-perm", "-o=rx", "-printf", r"d%p\0", "-prune", ")",
            "-o", "(", "-type", "f", "!", "-perm", "-o=r", "-printf", r"f%p\0", ")"]
    out = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=False).stdout
    entries = [e.decode(errors="surrogateescape") for e in out.split(b"\0") if e]
    return PrivatePaths(tuple(sorted(e[1:] for e in entries if e[0] == "f")),
                        tuple(sorted(e[1:] for e in entries if e[0] == "d")))


_PRIVATE: dict[tuple[str, ...], PrivatePaths] = {}
_PRIVATE_LOCK = threading.Lock()


def private_paths(roots: tuple[str, ...] = HOST_ALLOW_LIST) -> PrivatePaths:
    """`find_private(roots)` once per process and set of roots (the node warms up the allow-list and
    each image's directories when it starts): host files change rarely, and a file made private later
    is masked from the next process on."""
    with _PRIVATE_LOCK:
        if roots not in _PRIVATE:
            _PRIVATE[roots] = find_private(roots)
        return _PRIVATE[roots]


def private_paths_for(uid: int, gid: int, groups: list[int],
                      image_paths: tuple[str, ...] = ()) -> PrivatePaths | None:
    """What a container of this identity must not see: the private paths of the allow-list and of its
    image's directories. The default identity (nobody/nogroup, no other group) cannot read a private
    file anyway (unless nobody owns it), so its Pods do not wait for the first scan (the start-latency
    target is 0.5 s): they get the masks of the scans already done."""
    parts = [HOST_ALLOW_LIST, *([image_paths] if image_paths else [])]
    if uid == NOBODY and gid == NOBODY and not [g for g in groups if g != NOBODY]:
        found = [_PRIVATE[p] for p in parts if p in _PRIVATE]
    else:
        found = [private_paths(p) for p in parts]
    if len(found) <= 1:
        return found[0] if found else None
    return PrivatePaths(tuple(f for part in found for f in part.files), tuple(d for part in found for d in part.dirs))


def _parents(path: str) -> list[str]:
    """The ancestors of an absolute path, outermost first, without "/" ("/a/b/c" → ["/a", "/a/b"])."""
    parts = [p for p in path.split("/") if p]
    return ["/" + "/".join(parts[:i]) for i in range(1, len(parts))]


def _under(path: str, root: str) -> bool:
    path, root = path.rstrip("/") or "/", root.rstrip("/") or "/"
    return path == root or path.startswith(root + "/") or root == "/"


def missing_tools() -> list[str]:
    """The host tools the node needs that are not installed (bubblewrap, util-linux's setpriv)."""
    return [tool for tool in ("bwrap", "setpriv") if shutil.which(tool) is None]


def resolve_command(command: str, path: str, allow_list: tuple[str, ...] = HOST_ALLOW_LIST) -> str | None:
    """Where the container's command[0] is found inside the sandbox (only allow-listed directories
    exist there), or None; a path with a slash is taken as it is."""
    if "/" in command:
        real = os.path.realpath(command)
        visible = any(_under(command, root) or _under(real, root) for root in allow_list)
        return command if visible and os.access(command, os.X_OK) and os.path.isfile(command) else None
    for directory in path.split(":"):
        if not directory.startswith("/"):
            continue
        candidate = os.path.join(directory, command)
        if not any(_under(candidate, root) for root in allow_list):
            continue
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


class MemoryCgroup:
    """A cgroup v1 memory cgroup for one container run: the limit, the OOM-kill counter, removal.

    `usable()` says whether cgroups can be written here; without them the runtime falls back to
    RLIMIT_AS (which makes allocations fail rather than the kernel's OOM killer fire)."""

    def __init__(self, name: str, limit_bytes: int, root: Path = CGROUP_MEMORY_ROOT) -> None:
        self.path = root / "devcluster" / name
        self.limit_bytes = limit_bytes

    @staticmethod
    def usable(root: Path = CGROUP_MEMORY_ROOT) -> bool:
        try:
            (root / "devcluster").mkdir(exist_ok=True)
        except OSError:
            return False
        return os.access(root / "devcluster", os.W_OK)

    def create(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / "memory.limit_in_bytes").write_text(str(self.limit_bytes))
        swap = self.path / "memory.memsw.limit_in_bytes"
        if swap.exists():
            try:
                swap.write_text(str(self.limit_bytes))
            except OSError:
                pass

    def oom_killed(self) -> bool:
        try:
            for line in (self.path / "memory.oom_control").read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value) > 0
        except OSError:
            return False
        return False

    def remove(self) -> None:
        try:
            self.path.rmdir()
        except OSError as exc:
            log.debug("could not remove memory cgroup %s: %s", self.path, exc)


def _image_paths_over_mounts(spec: SandboxSpec) -> list[str]:
    """An image directory below a volume's mount point (the dev checkout in /tmp, as CI clones one, under an
    emptyDir mounted at /tmp) would be hidden by the volume, and the container's command not found (exit
    127): such a directory is bound again on top of the volume, with its parents made there 0755 (a non-root
    container must traverse them), and the masks of private files and hidden directories applied again, as
    the first binding had them. A real image's files are never below a volume's mount point on the host;
    this keeps the dev image, which is host directories, as visible as a real one's root."""
    covered = [path for path in spec.image_paths
               if any(_under(path, m.target) and path != m.target for m in spec.mounts)]
    argv: list[str] = []
    for path in covered:
        target = max((m.target for m in spec.mounts if _under(path, m.target)), key=len)
        parents = []
        parent = os.path.dirname(path)
        while parent != target and _under(parent, target):
            parents.append(parent)
            parent = os.path.dirname(parent)
        for d in reversed(parents):
            argv += ["--perms", "0755", "--dir", d]
        argv += ["--ro-bind", path, path]
    if not covered:
        return argv
    for hidden in spec.hidden:
        if any(_under(hidden, root) for root in covered) and os.path.isdir(hidden):
            argv += ["--tmpfs", hidden]
    if spec.private is not None:
        argv += _mask(spec.private.files, spec.private.dirs)
    return argv

