"""docs/api.md is generated from crds/ by scripts/gen_api_docs.py: the committed file equals a fresh
rendering (the failure says how to regenerate), every spec and status field of every CRD has a row, and the
generator's --check mode exits 1 on a stale file."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from tests.support.paths import REPO_ROOT

ROOT = REPO_ROOT


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_api_docs", ROOT / "scripts" / "gen_api_docs.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_api_md_is_up_to_date() -> None:
    gen = _generator()
    expected = gen.render(gen.load_crds())
    current = (ROOT / "docs" / "api.md").read_text()
    assert current == expected, "docs/api.md is out of date with crds/; regenerate it with: python scripts/gen_api_docs.py"


def test_every_field_has_a_row() -> None:
    gen = _generator()
    text = (ROOT / "docs" / "api.md").read_text()
    crds = gen.load_crds()
    assert [c["spec"]["names"]["kind"] for c in crds] == ["GitRepository", "Terraform", "ManifestSet", "PlanPolicy",
                                                              "PolicyException", "NotificationProvider",
                                                              "NotificationRule"]
    for crd in crds:
        props = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
        for section in ("spec", "status"):
            for path, _, _ in gen._fields(props[section], section):
                assert f"| `{path}` |" in text, f"{crd['spec']['names']['kind']} {path} missing from docs/api.md"
    assert "| `spec.approvePlan` | string |  | pattern `^(auto" in text
    assert "| `spec.workspace` | string | `default` |" in text


def test_check_mode_fails_on_stale_file(tmp_path: Path) -> None:
    gen = _generator()
    ok = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_api_docs.py"), "--check"],
                        capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    stale = tmp_path / "api.md"
    stale.write_text(gen.render(gen.load_crds()).replace("| `spec.path` |", "| `spec.paths` |", 1))
    assert gen.main(["--check", "--output", str(stale)]) == 1
    assert gen.main(["--output", str(stale)]) == 0
    assert gen.main(["--check", "--output", str(stale)]) == 0
