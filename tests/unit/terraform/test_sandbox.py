"""The local runner's sandbox command line (terraform/sandbox.py), checked without running bubblewrap:
own PID/IPC/UTS namespaces, an allow-list of host paths, the run's paths at fixed places inside, an
environment built from nothing (no controller variable), capabilities dropped for root."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tfcontroller.terraform.config import ENV_BINARY, ENV_PLUGIN_CACHE, ENV_PLUGIN_MIRROR, TerraformConfig
from tfcontroller.terraform.sandbox import (
    EXCHANGE_MOUNT,
    INIT_CACHE_MOUNT,
    KUBECONFIG_MOUNT,
    SandboxSpec,
    ensure_bytecode,
    local_spec,
    runner_command,
    runner_env,
    runner_kubeconfig,
    sandbox_argv,
)

CONFIG = TerraformConfig(binary="/usr/local/bin/terraform", plugin_mirror_dir=Path("/srv/mirror"),
                         plugin_cache_dir=Path("/var/cache/tf"))
LINKS = {"/bin": "usr/bin", "/lib": "usr/lib"}


def _pairs(argv: list[str], flag: str, width: int = 2) -> list[tuple[str, ...]]:
    return [tuple(argv[i + 1:i + 1 + width]) for i, a in enumerate(argv) if a == flag]


def test_namespaces_allow_list_and_command() -> None:
    spec = SandboxSpec(read_only=("/py",), read_write=("/cache",), env={"A": "1"}, workdir="/w",
                       mounts=(("/host/x", "/in/x", False), ("/host/k", "/in/k", True)), drop_caps=True)
    argv = sandbox_argv(spec, ["python", "-m", "tfcontroller"], "/usr/bin/bwrap", host_links=LINKS)
    assert argv[:5] == ["/usr/bin/bwrap", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    assert "--unshare-net" not in argv  # the API server, artifacts and cloud endpoints stay reachable
    assert ("usr/bin", "/bin") in _pairs(argv, "--symlink") and ("usr/lib", "/lib") in _pairs(argv, "--symlink")
    ro = _pairs(argv, "--ro-bind")
    assert {("/usr", "/usr"), ("/etc", "/etc"), ("/opt", "/opt"), ("/py", "/py"), ("/host/k", "/in/k")} <= set(ro)
    assert _pairs(argv, "--bind") == [("/cache", "/cache"), ("/host/x", "/in/x")]
    assert ("/proc",) in _pairs(argv, "--proc", 1) and ("/tmp",) in _pairs(argv, "--tmpfs", 1)
    assert argv.index("--tmpfs") < argv.index("--bind")  # a run directory under /tmp is mounted over the tmpfs
    assert "--clearenv" in argv and _pairs(argv, "--setenv") == [("A", "1")]
    assert _pairs(argv, "--cap-drop", 1) == [("ALL",)] and ("/w",) in _pairs(argv, "--chdir", 1)
    assert argv[argv.index("--"):] == ["--", "python", "-m", "tfcontroller"]
    for hidden in ("/root", "/home", "/work", "/var", "/run"):
        assert all(hidden not in pair for pair in ro + _pairs(argv, "--bind")), hidden


def test_no_cap_drop_for_an_unprivileged_controller() -> None:
    spec = SandboxSpec(read_only=(), read_write=(), env={}, workdir="/")
    assert "--cap-drop" not in sandbox_argv(spec, ["true"], host_links={})


def test_the_runner_environment_holds_nothing_of_the_controller() -> None:
    controller = {"PATH": "/secret/bin", "KUBECONFIG": "/root/.kube/config", "AWS_SECRET_ACCESS_KEY": "x",
                  "TFCONTROLLER_SMTP_PASSWORD": "y", "LANG": "C.UTF-8", "SSL_CERT_FILE": "/certs/ca.pem"}
    env = runner_env(EXCHANGE_MOUNT, CONFIG, "/srv/app", controller_env=controller)
    assert env == {
        "LANG": "C.UTF-8", "SSL_CERT_FILE": "/certs/ca.pem",
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": EXCHANGE_MOUNT, "TMPDIR": "/tmp", "PYTHONPATH": "/srv/app", "PYTHONDONTWRITEBYTECODE": "1",
        ENV_BINARY: "/usr/local/bin/terraform", ENV_PLUGIN_MIRROR: "/srv/mirror", ENV_PLUGIN_CACHE: "/var/cache/tf",
    }
    other = runner_env("/x", TerraformConfig(binary="/opt/tf/terraform"), "/srv/app", controller_env={})
    assert other["PATH"].startswith("/opt/tf:") and ENV_PLUGIN_MIRROR not in other


def test_local_spec_mounts_the_run_at_fixed_places() -> None:
    env = {"SSL_CERT_FILE": "/certs/ca.pem"}
    spec = local_spec(Path("/tmp/runs/r1"), Path("/tmp/ids/web.kubeconfig"), CONFIG, env,
                      python_prefixes=["/root/.pyenv/versions/3.11.7", "/usr"], package_dir="/srv/app/tfcontroller",
                      symlinks={})
    # /usr and /opt are in the allow-list already; the mirror and the trust store are added read-only
    assert spec.read_only == ("/root/.pyenv/versions/3.11.7", "/srv/app/tfcontroller", "/srv/mirror", "/certs/ca.pem")
    assert spec.read_write == ("/var/cache/tf",)
    assert spec.mounts == (("/tmp/runs/r1", EXCHANGE_MOUNT, False), ("/tmp/ids/web.kubeconfig", KUBECONFIG_MOUNT, True))
    assert spec.workdir == EXCHANGE_MOUNT


def test_runner_command() -> None:
    assert runner_command(EXCHANGE_MOUNT, "/etc/k", python="/venv/bin/python") == [
        "/venv/bin/python", "-m", "tfcontroller", "runner", "run", "--exchange", EXCHANGE_MOUNT,
        "--stop-on-stdin-eof", "--kubeconfig", "/etc/k"]
    assert "--kubeconfig" not in runner_command("/x", None, python="p")  # in-cluster configuration


def test_the_objects_init_cache_is_mounted_writable_at_its_fixed_place() -> None:
    spec = local_spec(Path("/tmp/runs/r1"), None, CONFIG, {}, python_prefixes=["/usr"], package_dir="/srv/app/x",
                      init_cache=Path("/work/init/default_app"))
    assert spec.mounts == (("/tmp/runs/r1", EXCHANGE_MOUNT, False), ("/work/init/default_app", INIT_CACHE_MOUNT, False))
    assert runner_command(EXCHANGE_MOUNT, None, python="p", init_cache=INIT_CACHE_MOUNT)[-2:] == [
        "--init-cache", INIT_CACHE_MOUNT]
    assert "--init-cache" not in runner_command(EXCHANGE_MOUNT, None, python="p")  # no cache: init every run


def test_the_runs_kubeconfig_is_at_one_place_inside_whatever_the_host_path() -> None:
    # a plan records the backend's kubeconfig path: another controller (work dir) must apply it
    for host in (Path("/a/credentials/default_app/kubeconfig"), Path("/b/other/kubeconfig")):
        assert runner_kubeconfig(host, sandboxed=True) == KUBECONFIG_MOUNT
        assert runner_kubeconfig(host, sandboxed=False) == str(host)
    assert runner_kubeconfig(None, sandboxed=True) is None  # in-cluster configuration


def test_a_local_run_keeps_the_controllers_host_name() -> None:
    """Terraform's lock says `Who = user@host`; the dead-run rule attributes a lock to a run by that host."""
    spec = local_spec(Path("/r"), None, CONFIG, {}, python_prefixes=["/usr"], package_dir="/p", hostname="node-7")
    argv = sandbox_argv(spec, ["true"], host_links=LINKS)
    assert _pairs(argv, "--hostname", 1) == [("node-7",)]


def test_a_symlinked_venv_stays_a_link_to_its_target_inside() -> None:
    """bound as a directory, /wt/.venv would not resolve to /main/.venv inside, and caches keyed on resolved
    paths (hcl2's parser) would miss in every run."""
    spec = local_spec(Path("/r"), None, CONFIG, {}, python_prefixes=["/wt/.venv", "/main/.venv", "/py"],
                      package_dir="/p", symlinks={"/wt/.venv": "/main/.venv"})
    assert spec.read_only == ("/main/.venv", "/py", "/p", "/srv/mirror")
    assert spec.links == (("/main/.venv", "/wt/.venv"),)
    argv = sandbox_argv(spec, ["true"], host_links=LINKS)
    assert argv.index("/main/.venv") < argv.index("--symlink", argv.index("/main/.venv"))  # the target first
    assert ("/main/.venv", "/wt/.venv") in _pairs(argv, "--symlink")


def test_the_package_is_compiled_once_so_the_read_only_sandbox_finds_bytecode(tmp_path: Path) -> None:
    """The runner runs with PYTHONDONTWRITEBYTECODE on a read-only package: a module without its `.pyc` is
    compiled from source in every run (issue 21). The controller compiles the package once."""
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    sources = [package / "__init__.py", package / "sub" / "__init__.py", package / "sub" / "mod.py"]
    for source in sources:
        source.write_text("VALUE = 1\n")
    assert ensure_bytecode(str(package))
    for source in sources:
        assert Path(importlib.util.cache_from_source(str(source))).is_file(), source
    (package / "sub" / "late.py").write_text("VALUE = 2\n")
    assert ensure_bytecode(str(package))  # once per process: a second call does no work
    assert not Path(importlib.util.cache_from_source(str(package / "sub" / "late.py"))).exists()


def test_the_package_is_compiled_once_even_when_workers_ask_at_once(tmp_path: Path) -> None:
    """Workers starting their first runners together: one compiles, the others wait for its answer."""
    import threading

    package = tmp_path / "many"
    package.mkdir()
    for i in range(30):
        (package / f"m{i}.py").write_text(f"VALUE = {i}\n")
    answers: list[bool] = []
    workers = [threading.Thread(target=lambda: answers.append(ensure_bytecode(str(package)))) for _ in range(6)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert answers == [True] * 6


def test_a_read_only_package_says_once_that_it_cannot_be_compiled(tmp_path: Path,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    package = tmp_path / "ro"
    package.mkdir()
    (package / "mod.py").write_text("VALUE = 1\n")
    # a __pycache__ that is a file: no bytecode can be written there (as on a read-only install, also as root)
    (package / "__pycache__").write_text("")
    with caplog.at_level("INFO", logger="tfcontroller.terraform.sandbox"):
        assert not ensure_bytecode(str(package))
        assert not ensure_bytecode(str(package))
    said = [r for r in caplog.records if "cannot be compiled" in r.getMessage()]
    assert len(said) == 1 and said[0].levelname == "INFO"
