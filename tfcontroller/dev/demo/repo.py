"""The demo's Git repository: a bare repository the git server serves, and `.demo/checkout`, the user's clone.

The checkout is the user's: docs/demo.md invites them to commit there, and `git push` is what deploys. So a
new run of the demo never deletes it (before, every run wiped `.demo` and a user's commits with it):

- no checkout yet: build the repository from `examples/` and `modules/` and clone it (marked as the demo's
  with `git config tfcontroller.demo true`);
- the demo's checkout from an earlier run: serve again what was last pushed (`origin/main`), so the cluster
  starts from what the user had deployed; unpushed commits and local changes stay in the checkout untouched,
  and the report says so (a `git push` deploys them);
- anything else at that path (not a Git repository, or not the demo's): moved aside to a backup, never
  deleted, and the report says where.

The tour's own commit is made in a separate clone (`tour_clone`), never in the user's checkout, so it neither
commits the user's changes nor pushes their unpushed commits.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tfcontroller.dev.demo.services import ROOT, DemoError

MARKER = "tfcontroller.demo"
BRANCH = "main"
IDENTITY = {"GIT_AUTHOR_NAME": "Demo", "GIT_AUTHOR_EMAIL": "demo@example.com",
            "GIT_COMMITTER_NAME": "Demo", "GIT_COMMITTER_EMAIL": "demo@example.com"}


def git(*args: str, cwd: Path, check: bool = True) -> str:
    """Run git for the demo itself (a fixed identity, no user or system configuration), output stripped."""
    env = {**os.environ, **IDENTITY, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    proc = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False)
    if check and proc.returncode != 0:
        raise DemoError(f"git {' '.join(args[:2])} failed ({proc.returncode}): {proc.stderr.strip()[-800:]}")
    return proc.stdout.strip()


@dataclass(frozen=True)
class RepoReport:
    """What happened to the user's checkout, for the console."""

    reused: bool
    unpushed: int = 0  # commits on the checkout's main that the served repository does not have
    local_changes: bool = False
    backup: Path | None = None

    def lines(self, checkout: Path) -> list[str]:
        out = []
        if self.backup is not None:
            out.append(f"{checkout} was not the demo's repository: moved it to {self.backup}")
        if not self.reused:
            out.append(f"{checkout} is a fresh clone of the demo's repository (built from examples/ and modules/)")
            return out
        out.append(f"kept your repository {checkout}: the demo serves what you last pushed (origin/{BRANCH})")
        if self.unpushed:
            out.append(f"  it has {self.unpushed} unpushed commit(s): `git -C {checkout} push` deploys them")
        if self.local_changes:
            out.append(f"  it has uncommitted changes (`git -C {checkout} status`); commit and push to deploy them")
        return out


def is_demo_checkout(path: Path) -> bool:
    if not (path / ".git").exists():
        return False
    return git("config", "--local", "--get", MARKER, cwd=path, check=False) == "true"


def _backup_path(checkout: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    candidate = checkout.with_name(f"{checkout.name}.backup-{stamp}")
    n = 1
    while candidate.exists():
        candidate = checkout.with_name(f"{checkout.name}.backup-{stamp}-{n}")
        n += 1
    return candidate


def _init_bare(bare: Path) -> None:
    if bare.exists():
        shutil.rmtree(bare)
    bare.parent.mkdir(parents=True, exist_ok=True)
    git("init", "--bare", "-b", BRANCH, str(bare), cwd=bare.parent)


def _configure_checkout(checkout: Path) -> None:
    """Mark the clone as the demo's and give it an identity of its own, so that the commands of docs/demo.md
    (`git commit`, `git push`) work as printed on a machine without a global Git identity."""
    for key, value in ((MARKER, "true"), ("user.name", "Demo User"), ("user.email", "demo-user@example.com")):
        if key == MARKER or not git("config", "--local", "--get", key, cwd=checkout, check=False):
            git("config", "--local", key, value, cwd=checkout)


def _build_fresh(bare: Path, checkout: Path) -> None:
    checkout.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(ROOT / "examples", checkout)
    shutil.copytree(ROOT / "modules", checkout / "modules")
    git("init", "-b", BRANCH, cwd=checkout)
    git("add", "-A", cwd=checkout)
    git("commit", "-m", "Initial GitOps repository", cwd=checkout)
    git("remote", "add", "origin", str(bare), cwd=checkout)
    git("push", "-u", "origin", BRANCH, cwd=checkout)
    _configure_checkout(checkout)


def _serve_again(bare: Path, checkout: Path) -> RepoReport:
    """Serve the checkout's last pushed state from a new bare repository; leave the checkout as it is."""
    git("remote", "set-url", "origin", str(bare), cwd=checkout)
    pushed = f"refs/remotes/origin/{BRANCH}"
    if not git("rev-parse", "--verify", "--quiet", pushed, cwd=checkout, check=False):
        pushed = f"refs/heads/{BRANCH}"  # never pushed (or the tracking ref was deleted): serve the branch
    git("push", "origin", f"{pushed}:refs/heads/{BRANCH}", cwd=checkout)
    git("fetch", "origin", cwd=checkout)
    unpushed = int(git("rev-list", "--count", f"origin/{BRANCH}..{BRANCH}", cwd=checkout, check=False) or 0)
    changes = bool(git("status", "--porcelain", cwd=checkout))
    _configure_checkout(checkout)
    return RepoReport(reused=True, unpushed=unpushed, local_changes=changes)


def prepare(bare: Path, checkout: Path) -> RepoReport:
    """Make `bare` the served repository and `checkout` the user's clone of it, keeping a checkout of an
    earlier run (see the module docstring). `bare` is always rebuilt: the git server serves it afresh."""
    _init_bare(bare)
    backup = None
    if checkout.exists() or checkout.is_symlink():
        if is_demo_checkout(checkout):
            return _serve_again(bare, checkout)
        backup = _backup_path(checkout)
        checkout.rename(backup)
    _build_fresh(bare, checkout)
    return RepoReport(reused=False, backup=backup)


def tour_clone(bare: Path, into: Path) -> Path:
    """A clone of the served repository for the tour's own commits (fresh each time)."""
    if into.exists():
        shutil.rmtree(into)
    into.parent.mkdir(parents=True, exist_ok=True)
    git("clone", "-q", "-b", BRANCH, str(bare), str(into), cwd=into.parent)
    return into


def follow(checkout: Path) -> str:
    """Bring the user's checkout up to the served repository after the tour pushed, when that cannot touch
    their work (no local changes, no unpushed commits): then their next `git commit` / `git push` works as
    docs/demo.md prints it. Otherwise say how to catch up. Returns a line for the console."""
    git("fetch", "origin", cwd=checkout)
    if git("rev-parse", "--abbrev-ref", "HEAD", cwd=checkout) != BRANCH or git("status", "--porcelain", cwd=checkout) or git("rev-list", "--count", f"origin/{BRANCH}..{BRANCH}",
                                                          cwd=checkout) != "0":
        return (f"{checkout} has work of yours; the tour's commit is on origin/{BRANCH}: "
                f"`git -C {checkout} pull --rebase` before you push")
    git("merge", "--ff-only", "-q", f"origin/{BRANCH}", cwd=checkout)
    return f"{checkout} is up to date with the served repository (origin/{BRANCH})"
