"""Reuse of one Terraform object's initialised data directory across its runs, so `terraform init`
(often the slowest command of a small run) is skipped when nothing it decides has changed.

Isolation (design.md §5) still holds: the directory belongs to ONE object (runs of an object are
serialised, so never two runs at once), it holds only what init writes (provider links or copies from
the mirror/plugin cache, downloaded modules, the backend settings and the selected workspace), never
variables, plans or credentials, and each run still has its own run directory, HOME and source tree.

Init is skipped when the *init key* matches the one recorded after the last successful init: the
backend block we generate, the Terraform workspace, the Terraform version, the CLI configuration (mirror,
cache) and the lock file shipped in the module. Anything else init depends on (a new provider, a changed
module source or version constraint) is detected by Terraform itself, which refuses to plan without
init (`InitRequiredError`); the reconciler then runs init in the same directory and retries once.
The lock file init writes next to the module (when the module ships none) is kept with the directory and
restored into the next run's module, as Terraform would find it in a long-lived checkout.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

LOCK_FILE = ".terraform.lock.hcl"
_SAFE = re.compile(r"[^a-zA-Z0-9_.-]")


def init_key(*, backend_hcl: str, workspace: str, terraform_version: str, cli_config: str,
             shipped_lock: bytes | None) -> str:
    doc = {"backend": backend_hcl, "workspace": workspace, "terraform": terraform_version, "cli": cli_config,
           "lock": hashlib.sha256(shipped_lock).hexdigest() if shipped_lock is not None else None}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def attach_dir(base: Path, module_dir: Path, key: str) -> tuple[Path, bool]:
    """One object's cache directory `base` (`data/`, `lock.hcl`, `key`): the data directory for this run,
    and whether init can be skipped. A directory left by another init key is emptied first (its contents:
    `base` itself may be a mount point, in a local runner's sandbox)."""
    data = base / "data"
    recorded = base / "key"
    reusable = data.is_dir() and recorded.is_file() and recorded.read_text() == key
    if not reusable:
        _empty(base)
        data.mkdir(parents=True, mode=0o700)
        return data, False
    saved_lock, lock = base / "lock.hcl", module_dir / LOCK_FILE
    if saved_lock.is_file() and not lock.exists() and not lock.is_symlink():
        shutil.copyfile(saved_lock, lock)
    return data, True


def record_dir(base: Path, module_dir: Path, key: str) -> None:
    """After a successful init: keep its lock file and the key it was made for."""
    lock = module_dir / LOCK_FILE
    if lock.is_file() and not lock.is_symlink():
        _replace(base / "lock.hcl", lock.read_bytes())
    _replace(base / "key", key.encode())


def _replace(path: Path, data: bytes) -> None:
    """Write `path` through a new temporary file and a rename: the directory is writable to the module's
    code in a local run's sandbox, and a FIFO it left at `path` would block an open for writing for ever."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def invalidate_dir(base: Path) -> None:
    """Before an init in a reused directory: until it succeeds, the directory is not reusable."""
    (base / "key").unlink(missing_ok=True)


def _empty(base: Path) -> None:
    base.mkdir(parents=True, exist_ok=True, mode=0o700)
    for child in base.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


class InitCache:
    """`<root>/<namespace>_<name>/` per object, with `data/` (the TF_DATA_DIR), `lock.hcl` and `key`. Local
    mode mounts an object's directory into that object's runner (runner/execute.py uses the functions above
    on it), so the rules are the same wherever init runs."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)

    def dir_for(self, object_key: str) -> Path:
        return self.root / _SAFE.sub("_", object_key.replace("/", "_"))

    def attach(self, object_key: str, module_dir: Path, key: str) -> tuple[Path, bool]:
        return attach_dir(self.dir_for(object_key), module_dir, key)

    def record(self, object_key: str, module_dir: Path, key: str) -> None:
        record_dir(self.dir_for(object_key), module_dir, key)

    def invalidate(self, object_key: str) -> None:
        invalidate_dir(self.dir_for(object_key))

    def forget(self, object_key: str) -> None:
        shutil.rmtree(self.dir_for(object_key), ignore_errors=True)
