"""Every example module in modules/ initialises offline from the provider mirror, passes `terraform
validate`, is `terraform fmt`-clean, and passes its own `terraform test` suite (tests/*.tftest.hcl: input
validation and naming, run against a mocked aws provider, so no emulator is needed)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import hcl2
import pytest

from tests.fixtures.aws import REPO_ROOT, TerraformOffline, copy_modules

MODULES = ["s3-bucket", "sqs-queue", "dynamodb-table", "iam-role", "app-stack"]


@pytest.fixture(scope="module")
def modules_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_modules(tmp_path_factory.mktemp("modules"))


@pytest.fixture(scope="module", params=MODULES)
def initialised(request: pytest.FixtureRequest, modules_copy: Path, terraform_offline: TerraformOffline) -> Iterator[Path]:
    module_dir = modules_copy / request.param
    terraform_offline.run(["init", "-backend=false", "-input=false"], module_dir, timeout=300)
    yield module_dir


def test_module_list_is_complete() -> None:
    on_disk = sorted(p.name for p in (REPO_ROOT / "modules").iterdir() if (p / "versions.tf").is_file())
    assert on_disk == sorted(MODULES)


def test_validate(initialised: Path, terraform_offline: TerraformOffline) -> None:
    proc = terraform_offline.run(["validate", "-json"], initialised, check=False)
    result = json.loads(proc.stdout)
    assert result["valid"], result["diagnostics"]
    assert result["warning_count"] == 0, result["diagnostics"]


def test_fmt_clean(initialised: Path, terraform_offline: TerraformOffline) -> None:
    proc = terraform_offline.run(["fmt", "-check", "-recursive", "-list=true"], initialised, check=False)
    assert proc.returncode == 0, f"not terraform fmt-clean: {proc.stdout}"


def test_terraform_test_suite(initialised: Path, terraform_offline: TerraformOffline) -> None:
    assert list((initialised / "tests").glob("*.tftest.hcl")), "every module ships a validation test suite"
    proc = terraform_offline.run(["test"], initialised, check=False, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " 0 failed" in proc.stdout


def test_modules_have_readme_and_typed_validated_variables() -> None:
    for name in MODULES:
        module = REPO_ROOT / "modules" / name
        assert (module / "README.md").is_file(), name
        with (module / "variables.tf").open() as fh:
            variables = {k: v for block in hcl2.load(fh)["variable"] for k, v in block.items()}
        assert all("type" in v for v in variables.values()), f"{name}: every variable has a type"
        assert any(v.get("validation") for v in variables.values()), f"{name}: has validation blocks"
        code = "".join(p.read_text() for p in module.glob("*.tf"))
        assert not re.search(r'provider\s+"aws"|endpoints\s*\{', code), f"{name}: no provider/endpoint blocks"


def test_app_stack_has_a_sensitive_output_and_local_module_calls() -> None:
    outputs = (REPO_ROOT / "modules" / "app-stack" / "outputs.tf").read_text()
    assert "sensitive   = true" in outputs
    main = (REPO_ROOT / "modules" / "app-stack" / "main.tf").read_text()
    for sibling in MODULES[:-1]:
        assert f'source = "../{sibling}"' in main
