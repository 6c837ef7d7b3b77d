"""What the runner's entry imports (issue 21): every local run is a fresh `tfcontroller runner run`
process, so each module its start-up imports costs CPU in every run. The API client and its HTTP stack
are loaded only when a run reads a Secret or ConfigMap, the HCL parser only when a run parses HCL (the
controller hands the module's declarations over in the request). Checked in a fresh interpreter, as the
sandbox starts one, so this does not regress unnoticed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
# What a run with literal inputs must not load: the API client (and urllib3 under it), the HCL parser,
# the YAML and retry libraries, the controllers (layer contract aside: their imports are heavy too).
HEAVY = ("urllib3", "kubernetes", "tfcontroller.kube.client", "hcl2", "lark", "yaml", "tenacity",
         "tfcontroller.controllers", "tfcontroller.crypto")
# What the runner's entry loads before it runs anything: the CLI, the `runner run` command, the run itself
ENTRY = ("tfcontroller.cli.main", "tfcontroller.cli.runner_cmd", "tfcontroller.runner.execute",
         "tfcontroller.runner.inputs")


def _loaded_after(modules: tuple[str, ...]) -> set[str]:
    code = ("import importlib, json, sys\n"
            f"for m in {list(modules)!r}: importlib.import_module(m)\n"
            "print(json.dumps(sorted(sys.modules)))")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120,
                          check=True)
    return set(json.loads(done.stdout))


def test_the_runner_entry_loads_no_heavy_module() -> None:
    loaded = _loaded_after(ENTRY)
    assert "tfcontroller.runner.execute" in loaded  # the check ran what it names
    heavy = sorted(m for m in loaded if any(m == h or m.startswith(h + ".") for h in HEAVY))
    assert heavy == [], f"the runner's start-up imports {heavy}: import them where a run needs them"


@pytest.mark.parametrize(("module", "brings"), [
    ("tfcontroller.kube.client", "urllib3"),  # the check is not blind: these do load what it looks for
    ("tfcontroller.terraform.workspace", None),
])
def test_the_heavy_modules_are_seen_when_loaded(module: str, brings: str | None) -> None:
    loaded = _loaded_after((module,))
    if brings is not None:
        assert brings in loaded
    else:
        assert "hcl2" not in loaded  # the workspace parses HCL only for a custom backend
