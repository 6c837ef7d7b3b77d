"""The dev node's images, pure parts: command/args against ENTRYPOINT/CMD as the kubelet resolves them,
the image's env under the container's, what `tfcontroller:dev` mounts (never a checkout's root), the
`dev-cluster --image` option, and the bwrap arguments of an image's directories."""

from __future__ import annotations

from pathlib import Path

import pytest

from tfcontroller.dev.cluster.node import sandbox
from tfcontroller.dev.cluster.node.images import (
    DEV_IMAGE,
    NodeImage,
    container_argv,
    dev_image,
    image_environment,
    image_id,
    node_config,
    parse_image_option,
)

IMAGE = NodeImage(paths=("/opt/x",), env={"PATH": "/img/bin", "A": "image"}, entrypoint=("ep", "--flag"),
                  cmd=("cmd-arg",))


@pytest.mark.parametrize(("image", "command", "args", "want"), [
    (IMAGE, [], [], ["ep", "--flag", "cmd-arg"]),  # ENTRYPOINT + CMD
    (IMAGE, [], ["a1"], ["ep", "--flag", "a1"]),  # args replace CMD
    (IMAGE, ["c"], [], ["c"]),  # command replaces ENTRYPOINT and drops CMD
    (IMAGE, ["c"], ["a1", "a2"], ["c", "a1", "a2"]),
    (NodeImage(paths=(), cmd=("only-cmd",)), [], [], ["only-cmd"]),  # CMD alone is the process
    (NodeImage(paths=()), [], ["a"], ["a"]),
    (NodeImage(paths=()), [], [], []),  # nothing to run
    (None, [], ["a"], []),  # an unmapped image: a command is required
    (None, ["sh"], ["-c", "x"], ["sh", "-c", "x"]),
])
def test_command_and_args_against_entrypoint_and_cmd(image: NodeImage | None, command: list[str], args: list[str],
                                                     want: list[str]) -> None:
    assert container_argv(image, command, args) == want


def test_the_images_env_over_the_nodes_base() -> None:
    base = {"PATH": "/usr/bin", "HOSTNAME": "p", "A": "base"}
    assert image_environment(IMAGE, base) == {"PATH": "/img/bin", "HOSTNAME": "p", "A": "image"}
    assert image_environment(None, base) == base
    assert image_id(DEV_IMAGE) == "dev-node://tfcontroller:dev"


def test_the_dev_image_mounts_the_venv_the_interpreter_and_only_the_package(tmp_path: Path) -> None:
    real_venv = tmp_path / "real" / "venv"
    (real_venv / "bin").mkdir(parents=True)
    (tmp_path / "checkout").mkdir()
    (tmp_path / "checkout" / ".venv").symlink_to(real_venv)
    python_home = tmp_path / "pythons" / "3.11"
    (python_home / "bin").mkdir(parents=True)
    (python_home / "bin" / "python3.11").touch()
    (real_venv / "bin" / "python").symlink_to(python_home / "bin" / "python3.11")
    package = tmp_path / "checkout" / "tfcontroller"
    image = dev_image(("/usr",), prefix=str(tmp_path / "checkout" / ".venv"), base_prefix=str(python_home),
                      executable=str(real_venv / "bin" / "python"), package_dir=str(package))
    assert image.paths == (str(tmp_path / "checkout" / ".venv"), str(real_venv), str(python_home), str(package))
    assert str(tmp_path / "checkout") not in image.paths  # the checkout's other files stay out
    assert image.env["PATH"].startswith(f"{real_venv}/bin:") and image.env["PATH"].endswith(":/usr/bin:/sbin:/bin")
    assert image.env["PYTHONPATH"] == str(tmp_path / "checkout")
    assert image.entrypoint == ("tfcontroller",)
    # installed into the venv: nothing to add to PYTHONPATH, nothing mounted twice; the allow-list not at all
    site = real_venv / "lib" / "python3.11" / "site-packages" / "tfcontroller"
    installed = dev_image(("/usr",), prefix=str(real_venv), base_prefix="/usr", executable="/usr/bin/python3",
                          package_dir=str(site))
    assert installed.paths == (str(real_venv),) and "PYTHONPATH" not in installed.env


def test_the_dev_image_of_this_process_holds_no_home_or_work_root() -> None:
    image = dev_image(sandbox.HOST_ALLOW_LIST)
    for forbidden in ("/", "/root", "/home", "/work", str(Path.cwd()), str(Path.home())):
        assert forbidden not in image.paths


def test_image_option(tmp_path: Path) -> None:
    (tmp_path / "a" / "bin").mkdir(parents=True)
    (tmp_path / "b").mkdir()
    name, image = parse_image_option(f"tools:1={tmp_path / 'a'}:{tmp_path / 'b'}")
    assert name == "tools:1" and image.paths == (str(tmp_path / "a"), str(tmp_path / "b"))
    assert image.env["PATH"] == f"{tmp_path / 'a' / 'bin'}:{sandbox.DEFAULT_PATH}" and image.entrypoint == ()
    for bad, why in (("tools", "expected NAME=DIR"), ("=/x", "expected NAME=DIR"), ("t=rel", "not an absolute path"),
                     (f"t={tmp_path / 'missing'}", "does not exist")):
        with pytest.raises(ValueError, match=why):
            parse_image_option(bad)
    config = node_config([f"tools:1={tmp_path / 'b'}"])
    assert set(config.images) == {DEV_IMAGE, "tools:1"}


def test_image_directories_are_bound_read_only_under_traversable_parents_and_masked() -> None:
    private = sandbox.PrivatePaths(files=("/srv/img/secret.key",), dirs=())
    spec = sandbox.SandboxSpec(argv=["x"], env={}, uid=1, gid=1, image_paths=("/srv/img", "/usr/lib/extra"),
                               hidden=["/srv/img/state"], private=private)
    argv = sandbox.bwrap_argv(spec)
    joined = " ".join(argv)
    assert "--perms 0755 --dir /srv --ro-bind /srv/img /srv/img" in joined
    assert "--dir /usr" not in joined  # the allow-list's own directories are never recreated
    # the masks come after the image's bind, or the bind would uncover them
    assert joined.index("--ro-bind /srv/img /srv/img") < joined.index("--ro-bind /dev/null /srv/img/secret.key")
