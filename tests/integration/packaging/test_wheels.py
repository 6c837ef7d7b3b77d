"""The controller ships without its development tools: `pip wheel` of the repository builds a
`tfcontroller` wheel with no `tfcontroller/dev/` inside and a `tfcontroller-dev` wheel (dev-package/) with
exactly the tools; together they hold every module of the source tree once. Installed alone (the wheel's
files first on sys.path, no clone in sight), the controller's CLI works and `tfcontroller dev-cluster`
says how to get the tools (one line, exit 1, no traceback); with the dev wheel beside it, it serves."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

from tests.support.paths import REPO_ROOT

ROOT = REPO_ROOT
pytestmark = pytest.mark.timeout(600)


def _source_copy(dest: Path) -> Path:
    """The files the two builds read, copied so that the builds leave nothing in the clone."""
    junk = shutil.ignore_patterns("__pycache__", "*.pyc", "build", "*.egg-info")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, dest / name)
    shutil.copytree(ROOT / "tfcontroller", dest / "tfcontroller", ignore=junk)
    shutil.copytree(ROOT / "dev-package", dest / "dev-package", symlinks=True, ignore=junk)
    return dest


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    src = _source_copy(tmp_path_factory.mktemp("src"))
    out = tmp_path_factory.mktemp("wheels")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), ".", "./dev-package"],
        cwd=src, capture_output=True, text=True, timeout=540,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    found = {p.name.split("-")[0]: p for p in out.glob("*.whl")}
    assert set(found) == {"tfcontroller", "tfcontroller_dev"}, found
    return found


def _names(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as zf:
        return zf.namelist()


def _metadata(wheel: Path) -> tuple[str, list[str]]:
    with zipfile.ZipFile(wheel) as zf:
        meta = Parser().parsestr(zf.read(next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))).decode())
    return meta["Version"], meta.get_all("Requires-Dist") or []


def _source_modules(under: str) -> set[str]:
    return {p.relative_to(ROOT).as_posix() for p in (ROOT / under).rglob("*.py") if "__pycache__" not in p.parts}


def test_the_controller_wheel_has_no_dev_tools(wheels: dict[str, Path]) -> None:
    names = _names(wheels["tfcontroller"])
    assert not [n for n in names if n.startswith("tfcontroller/dev/")]
    assert "tfcontroller/__init__.py" in names and "tfcontroller/cli/devcluster_cmd.py" in names
    _, requires = _metadata(wheels["tfcontroller"])
    assert not [r for r in requires if r.startswith(("kubernetes-validate", "aiosmtpd")) and "extra ==" not in r]


def test_the_dev_wheel_holds_exactly_the_dev_tools(wheels: dict[str, Path]) -> None:
    files = [n for n in _names(wheels["tfcontroller_dev"]) if ".dist-info/" not in n]
    assert files and all(n.startswith("tfcontroller/dev/") for n in files), files
    py = {n for n in files if n.endswith(".py")}
    assert py == _source_modules("tfcontroller/dev")
    product = {n for n in _names(wheels["tfcontroller"]) if n.endswith(".py")}
    assert product | py == _source_modules("tfcontroller") and not product & py


def test_the_dev_extra_brings_the_dev_wheel_of_the_same_version(wheels: dict[str, Path]) -> None:
    version, requires = _metadata(wheels["tfcontroller"])
    dev_version, dev_requires = _metadata(wheels["tfcontroller_dev"])
    assert dev_version == version
    assert f'tfcontroller-dev=={version}; extra == "dev"' in requires
    assert f"tfcontroller=={version}" in dev_requires
    assert [r for r in dev_requires if r.startswith("kubernetes-validate")]


@pytest.fixture(scope="module")
def installed(wheels: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each wheel set unpacked as pip installs a pure wheel: `product` alone, `full` with the dev wheel."""
    sites = {"product": [wheels["tfcontroller"]], "full": [wheels["tfcontroller"], wheels["tfcontroller_dev"]]}
    dirs = {}
    for name, parts in sites.items():
        site = tmp_path_factory.mktemp(name)
        for wheel in parts:
            with zipfile.ZipFile(wheel) as zf:
                zf.extractall(site)
        dirs[name] = site
    return dirs


def _python(site: Path) -> tuple[list[str], dict[str, str]]:
    """A Python that sees the unpacked wheels at `site` as installed, and the controller's third-party
    dependencies, but nothing of the clone: `-S` skips the venv's .pth files (the editable install's
    import hook maps the clone's tfcontroller/, dev tools included), the dependencies come back through
    PYTHONPATH after `site` (replacing the clone's), and the tests run it in an empty working directory."""
    paths = sysconfig.get_paths()
    deps = dict.fromkeys([paths["purelib"], paths["platlib"]])
    return [sys.executable, "-S"], {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *deps])}


def _spec_origins(site: Path, cwd: Path) -> list[str]:
    """Where `tfcontroller` and `tfcontroller.dev` come from for `_python(site)`."""
    python, env = _python(site)
    code = ("import importlib.util as u; "
            "print(*[getattr(u.find_spec(m), 'origin', None) for m in ('tfcontroller', 'tfcontroller.dev')])")
    proc = subprocess.run([*python, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


def test_without_the_dev_wheel_dev_cluster_says_how_to_install_it(installed: dict[str, Path], tmp_path: Path) -> None:
    site = installed["product"]
    python, env = _python(site)
    assert _spec_origins(site, tmp_path) == [str(site / "tfcontroller" / "__init__.py"), "None"]
    helped = subprocess.run([*python, "-m", "tfcontroller", "--help"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert helped.returncode == 0 and "dev-cluster" in helped.stdout, helped.stderr
    proc = subprocess.run([*python, "-m", "tfcontroller", "dev-cluster", "--kubeconfig", str(tmp_path / "kc")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "not installed" in lines[0] and "pip install 'tfcontroller[dev]'" in lines[0]
    assert not (tmp_path / "kc").exists()


def test_with_the_dev_wheel_dev_cluster_serves(installed: dict[str, Path], tmp_path: Path) -> None:
    site = installed["full"]
    assert _spec_origins(site, tmp_path) == [str(site / "tfcontroller" / "__init__.py"),
                                             str(site / "tfcontroller" / "dev" / "__init__.py")]
    python, env = _python(site)
    proc = subprocess.Popen([*python, "-m", "tfcontroller", "dev-cluster", "--port", "0",
                             "--kubeconfig", str(tmp_path / "kc")],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "dev-cluster ready at https://127.0.0.1:" in line, line + (proc.stderr.read() if proc.stderr else "")
        assert (tmp_path / "kc").is_file()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0

