"""A Pod's volumes as host directories, and its containers' volumeMounts as sandbox bind mounts.

`volume_files` is pure: which files (path → content, mode) a secret, configMap, downwardAPI or
projected volume holds. `VolumeSet` writes them under the Pod's directory in the node's state
directory (never visible to other Pods: only a container's own mounts are bound into its sandbox),
owned by the Pod's user so that a non-root container can read mode-0644/0400 files (a real kubelet
uses fsGroup for that; see docs/dev-cluster.md). emptyDir with `medium: Memory` lives on the host's
/dev/shm (tmpfs), shared by the Pod's containers like the real one. Contents are written when the Pod
starts; later changes of a Secret or ConfigMap are not propagated.
"""

from __future__ import annotations

import base64
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tfcontroller.dev.cluster.node.env import ConfigError, Lookup, field_ref, resource_ref
from tfcontroller.dev.cluster.node.sandbox import Mount

Obj = dict[str, Any]
# (audience, expirationSeconds, pod) -> token: the ServiceAccount token of a projected volume.
TokenSource = Callable[[str | None, int, Obj], str]
DEFAULT_MODE = 0o644
SUPPORTED = ("emptyDir", "secret", "configMap", "downwardAPI", "projected")


class VolumeError(Exception):
    """A volume cannot be set up (yet): the message is the FailedMount event's."""


@dataclass(frozen=True)
class File:
    path: str
    content: bytes
    mode: int


def _items(data: dict[str, bytes], items: list[Obj] | None, default_mode: int, kind: str, name: str,
           optional: bool) -> list[File]:
    if not items:
        return [File(k, v, default_mode) for k, v in sorted(data.items())]
    out = []
    for item in items:
        key = item.get("key", "")
        if key not in data:
            if optional:
                continue
            raise VolumeError(f"configmap references non-existent config key: {key}" if kind == "configmaps"
                              else f'references non-existent secret key: {key}')
        out.append(File(item.get("path") or key, data[key], item.get("mode", default_mode)))
    return out


def _object_data(lookup: Lookup, plural: str, name: str, optional: bool) -> dict[str, bytes] | None:
    obj = lookup(plural, name)
    if obj is None:
        if optional:
            return None
        raise VolumeError(f'{"secret" if plural == "secrets" else "configmap"} "{name}" not found')
    if plural == "secrets":
        return {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
    data = {k: str(v).encode() for k, v in (obj.get("data") or {}).items()}
    data.update({k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
    return data


def _downward(pod: Obj, items: list[Obj], default_mode: int, allocatable: dict[str, str]) -> list[File]:
    out = []
    for item in items or []:
        try:
            if "fieldRef" in item:
                value = field_ref(pod, item["fieldRef"].get("fieldPath", ""))
            else:
                value = resource_ref(pod, "", item.get("resourceFieldRef") or {}, allocatable)
        except ConfigError as exc:
            raise VolumeError(str(exc)) from None
        out.append(File(item.get("path", ""), value.encode(), item.get("mode", default_mode)))
    return out


def volume_files(volume: Obj, pod: Obj, lookup: Lookup, allocatable: dict[str, str],
                 tokens: TokenSource | None = None) -> list[File]:
    """The files of a secret, configMap, downwardAPI or projected volume (empty for emptyDir)."""
    if "secret" in volume:
        src = volume["secret"]
        mode = src.get("defaultMode", DEFAULT_MODE)
        data = _object_data(lookup, "secrets", src.get("secretName", ""), bool(src.get("optional")))
        return [] if data is None else _items(data, src.get("items"), mode, "secrets", "", bool(src.get("optional")))
    if "configMap" in volume:
        src = volume["configMap"]
        mode = src.get("defaultMode", DEFAULT_MODE)
        data = _object_data(lookup, "configmaps", src.get("name", ""), bool(src.get("optional")))
        return [] if data is None else _items(data, src.get("items"), mode, "configmaps", "", bool(src.get("optional")))
    if "downwardAPI" in volume:
        src = volume["downwardAPI"]
        return _downward(pod, src.get("items") or [], src.get("defaultMode", DEFAULT_MODE), allocatable)
    if "projected" in volume:
        src = volume["projected"]
        mode = src.get("defaultMode", DEFAULT_MODE)
        files: list[File] = []
        for source in src.get("sources") or []:
            files += _projected_source(source, pod, lookup, allocatable, tokens, mode)
        return files
    return []


def _projected_source(source: Obj, pod: Obj, lookup: Lookup, allocatable: dict[str, str],
                      tokens: TokenSource | None, mode: int) -> list[File]:
    if "secret" in source or "configMap" in source:
        plural, src = ("secrets", source["secret"]) if "secret" in source else ("configmaps", source["configMap"])
        optional = bool(src.get("optional"))
        data = _object_data(lookup, plural, src.get("name", ""), optional)
        return [] if data is None else _items(data, src.get("items"), mode, plural, "", optional)
    if "downwardAPI" in source:
        return _downward(pod, source["downwardAPI"].get("items") or [], mode, allocatable)
    if "serviceAccountToken" in source:
        src = source["serviceAccountToken"]
        if tokens is None:
            raise VolumeError("serviceAccountToken projection: this dev cluster issues no ServiceAccount tokens")
        token = tokens(src.get("audience"), int(src.get("expirationSeconds") or 3600), pod)
        return [File(src.get("path", "token"), token.encode(), mode)]
    if "clusterTrustBundle" in source:
        raise VolumeError("clusterTrustBundle projections are not supported by the dev node")
    return []


def unsupported(volume: Obj) -> str | None:
    """Why the dev node cannot provide this volume (None when it can)."""
    kinds = [k for k in volume if k != "name"]
    if not kinds or kinds[0] in SUPPORTED:
        return None
    return (f'volume "{volume.get("name")}": {kinds[0]} volumes are not supported by the dev node '
            f"(supported: {', '.join(SUPPORTED)})")


def sub_path_problem(sub: str) -> str | None:
    """The kubelet's refusal of a subPath that is absolute or steps back (None when acceptable)."""
    if sub.startswith("/"):
        return f"error SubPath `{sub}` must not be an absolute path"
    if ".." in sub.split("/"):
        return f"unable to provision SubPath `{sub}`: must not contain '..'"
    return None


def _inside(path: str, root: str) -> bool:
    return os.path.commonpath([path, root]) == root


def close_mounts(mounts: list[Mount]) -> None:
    """Close the descriptors of subPath mounts (once the sandbox holds its own)."""
    for mount in mounts:
        if mount.fd is not None:
            try:
                os.close(mount.fd)
            except OSError:
                pass


class VolumeSet:
    """The host directories of one Pod's volumes."""

    def __init__(self, pod_dir: Path, shm_dir: Path, uid: int, gid: int) -> None:
        self.pod_dir = pod_dir
        self.shm_dir = shm_dir
        self.uid, self.gid = uid, gid
        self.paths: dict[str, Path] = {}
        self.data_volumes: set[str] = set()  # secret, configMap, downwardAPI, projected: mounted read-only

    def setup(self, pod: Obj, lookup: Lookup, allocatable: dict[str, str], tokens: TokenSource | None) -> None:
        """Create every volume not created yet; VolumeError names the first that cannot be."""
        for volume in (pod.get("spec") or {}).get("volumes") or []:
            name = volume.get("name", "")
            if name in self.paths:
                continue
            problem = unsupported(volume)
            if problem:
                raise VolumeError(problem)
            if "emptyDir" in volume:
                memory = (volume["emptyDir"] or {}).get("medium") == "Memory"
                path = (self.shm_dir if memory else self.pod_dir / "volumes") / name
                path.mkdir(parents=True, exist_ok=True)
                path.chmod(0o777)
            else:
                files = volume_files(volume, pod, lookup, allocatable, tokens)
                path = self.pod_dir / "volumes" / name
                self._write(path, files)
                self.data_volumes.add(name)
            self.paths[name] = path

    def _write(self, root: Path, files: list[File]) -> None:
        tmp = root.with_name(root.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for f in files:
            target = (tmp / f.path).resolve()
            if not str(target).startswith(str(tmp.resolve()) + os.sep):
                raise VolumeError(f"invalid path {f.path!r} in volume {root.name}")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(f.content)
            os.chown(target, self.uid, self.gid)
            target.chmod(f.mode & 0o777)
        for dirpath, _dirs, _files in os.walk(tmp):
            os.chown(dirpath, self.uid, self.gid)
            os.chmod(dirpath, 0o755)
        shutil.rmtree(root, ignore_errors=True)
        tmp.rename(root)

    def mounts(self, container: Obj) -> list[Mount]:
        """The container's volumeMounts as bind mounts (subPath created inside the volume if missing);
        secret, configMap, downwardAPI and projected volumes are always read-only, as on a kubelet.
        A subPath is bound through an open descriptor (`Mount.fd`), checked to lie inside its volume:
        another container of the Pod can swap a path for a symlink, never the descriptor. The caller
        owns the descriptors (`close_mounts`)."""
        out: list[Mount] = []
        try:
            for vm in container.get("volumeMounts") or []:
                base = self.paths.get(vm.get("name", ""))
                if base is None:
                    raise VolumeError(f'unable to find volume "{vm.get("name")}" for volumeMount')
                read_only = bool(vm.get("readOnly")) or vm.get("name") in self.data_volumes
                sub = vm.get("subPath") or ""
                if not sub:
                    out.append(Mount(str(base), vm.get("mountPath", ""), read_only))
                    continue
                fd = self._open_sub_path(base, sub, str(vm.get("name")), str(container.get("name")))
                out.append(Mount(f"{base}/{sub}", vm.get("mountPath", ""), read_only, fd))
        except BaseException:
            close_mounts(out)
            raise
        return out

    def _open_sub_path(self, base: Path, sub: str, volume: str, container: str) -> int:
        """An O_PATH descriptor of `base/sub`, refused as the kubelet refuses it: absolute, with `..`,
        or resolving (through symlinks a container made) outside its volume."""
        problem = sub_path_problem(sub)
        if problem:
            raise VolumeError(problem)
        root = os.path.realpath(base)
        target = os.path.realpath(os.path.join(root, sub))
        if not _inside(target, root):
            raise VolumeError(f'failed to prepare subPath for volumeMount "{volume}" of container "{container}"')
        if not os.path.lexists(target):
            os.makedirs(target, exist_ok=True)
            os.chown(target, self.uid, self.gid)
        fd = os.open(target, os.O_PATH | os.O_CLOEXEC)
        if not _inside(os.readlink(f"/proc/self/fd/{fd}"), root):  # swapped between the check and the open
            os.close(fd)
            raise VolumeError(f'failed to prepare subPath for volumeMount "{volume}" of container "{container}"')
        return fd

    def cleanup(self) -> None:
        shutil.rmtree(self.shm_dir, ignore_errors=True)
