"""The dev node's images: an image name mapped to host directories that a container of that image sees
(read-only, at the same path), with the image's environment, ENTRYPOINT, CMD and working directory.

The dev node pulls nothing, so an image is whatever the host already has: `tfcontroller:dev` (DEV_IMAGE)
is the running interpreter (its venv, the base installation the venv points into) and the `tfcontroller`
package directory of the running code — enough for `tfcontroller runner pod` to run in a Pod, and nothing
else of the host (never the repository, /work or a home directory: only those directories, so a secret
beside them stays out). Further images come from `dev-cluster --image NAME=DIR[:DIR…]`.

How the kubelet and a container runtime combine a Pod's container with its image, kept here as pure
functions: `command` replaces ENTRYPOINT, `args` replaces CMD (and a `command` alone drops CMD); the
image's environment comes first and the container's `env` overrides it; an empty `workingDir` takes the
image's. Images not in the map keep the node's older behaviour (a `command` is required and resolved on
the host's allow-list), documented in docs/dev-cluster.md as a departure.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tfcontroller.dev.cluster.node.sandbox import DEFAULT_PATH as CONTAINER_PATH
from tfcontroller.dev.cluster.node.sandbox import HOST_ALLOW_LIST

if TYPE_CHECKING:
    from tfcontroller.dev.cluster.node.node import NodeConfig

DEV_IMAGE = "tfcontroller:dev"
IMAGE_ID_SCHEME = "dev-node://"


@dataclass(frozen=True)
class NodeImage:
    """An image the dev node can run: `paths` are host directories (or files) mounted read-only at the
    same path inside the container; `env` is the image's environment (PATH first of all); `entrypoint`
    and `cmd` are its ENTRYPOINT and CMD; `working_dir` its WORKDIR ("" = /)."""

    paths: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    working_dir: str = ""


def image_id(name: str) -> str:
    """A stable `imageID` for the status of a container of a mapped image (the dev node has no digest)."""
    return IMAGE_ID_SCHEME + name


def container_argv(image: NodeImage | None, command: Sequence[str], args: Sequence[str]) -> list[str]:
    """The process a container runs, as the kubelet resolves it: `command` overrides the image's
    ENTRYPOINT and `args` its CMD; a `command` without `args` runs without the CMD; `args` alone follow
    the ENTRYPOINT. Without an image (not in the map) the image is unknown: `command` + `args`. An empty
    list means there is nothing to run."""
    if image is None or command:
        return [*command, *args] if command else []
    return [*image.entrypoint, *(args if args else image.cmd)]


def image_environment(image: NodeImage | None, base: Mapping[str, str]) -> dict[str, str]:
    """The environment a container starts from: the node's own variables (`base`: PATH, HOSTNAME, HOME,
    the service variables), the image's environment over them; the container's `env` comes later."""
    env = dict(base)
    if image is not None:
        env.update(image.env)
    return env


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _unique_roots(paths: Iterable[str], covered: Sequence[str]) -> tuple[str, ...]:
    """The paths in order without repeats, without those inside another path or inside `covered` (the
    host allow-list, visible anyway)."""
    kept: list[str] = []
    candidates = [p.rstrip("/") or "/" for p in paths if p]
    for path in candidates:
        if path in kept or any(_under(path, root) for root in covered):
            continue
        if any(_under(path, other) for other in candidates if other != path):
            continue
        kept.append(path)
    return tuple(kept)


def dev_image(covered: Sequence[str] = (), *, prefix: str | None = None, base_prefix: str | None = None,
              executable: str | None = None, package_dir: str | None = None) -> NodeImage:
    """`tfcontroller:dev`: the running interpreter and the running `tfcontroller` package.

    Mounted: the venv as called and where it resolves (`sys.prefix`; its scripts' shebangs name the
    resolved one), the base installation (`sys.base_prefix`) and, if elsewhere, the directory the venv's
    python link resolves into; the package directory (`Path(tfcontroller.__file__).parent`), never its
    parent (a checkout holds far more than code). An editable install maps the package through a finder
    in the venv's site-packages (`__editable__*.pth`), which only names the package directory; a checkout
    on PYTHONPATH is found the same way: PYTHONPATH is the package's parent, which inside the container
    holds only the package. Paths under `covered` (the host allow-list) are visible anyway."""
    import tfcontroller

    prefix = prefix if prefix is not None else sys.prefix
    base_prefix = base_prefix if base_prefix is not None else sys.base_prefix
    executable = executable if executable is not None else os.path.join(prefix, "bin", "python")
    package = package_dir if package_dir is not None else str(Path(tfcontroller.__file__).resolve().parent)
    venv = os.path.realpath(prefix)
    python_home = os.path.dirname(os.path.dirname(os.path.realpath(executable)))
    paths = _unique_roots([prefix, venv, os.path.realpath(base_prefix), base_prefix, python_home, package], covered)
    env = {"PATH": f"{venv}/bin:{CONTAINER_PATH}", "PYTHONDONTWRITEBYTECODE": "1"}
    if not _under(package, venv):  # an editable install or a checkout: make the package importable
        env["PYTHONPATH"] = str(Path(package).parent)
    return NodeImage(paths=paths, env=env, entrypoint=("tfcontroller",))


def parse_image_option(text: str) -> tuple[str, NodeImage]:
    """`NAME=DIR[:DIR…]` (dev-cluster --image): an image of those host directories, mounted read-only
    at the same path, with each DIR/bin that exists in front of the container PATH. ValueError with what
    to fix when the option is malformed or a directory is missing or relative."""
    name, sep, dirs = text.partition("=")
    if not sep or not name.strip() or not dirs.strip():
        raise ValueError(f"--image {text!r}: expected NAME=DIR[:DIR...], e.g. tools:1=/opt/tools")
    paths = [d for d in dirs.split(":") if d]
    for path in paths:
        if not os.path.isabs(path):
            raise ValueError(f"--image {text!r}: {path!r} is not an absolute path")
        if not os.path.exists(path):
            raise ValueError(f"--image {text!r}: {path!r} does not exist")
    bins = [os.path.join(p, "bin") for p in paths if os.path.isdir(os.path.join(p, "bin"))]
    env = {"PATH": ":".join([*bins, CONTAINER_PATH])}
    return name.strip(), NodeImage(paths=tuple(paths), env=env)


def default_images() -> dict[str, NodeImage]:
    """The images every dev node knows: `tfcontroller:dev`."""
    return {DEV_IMAGE: dev_image(HOST_ALLOW_LIST)}


def node_config(image_options: Sequence[str]) -> NodeConfig:
    """A node configuration knowing the default images and those of `dev-cluster --image` options
    (a later option of the same name wins); ValueError (what to fix) on a malformed option."""
    from tfcontroller.dev.cluster.node.node import NodeConfig

    images = default_images()
    for option in image_options:
        name, image = parse_image_option(option)
        images[name] = image
    return NodeConfig(images=images)
