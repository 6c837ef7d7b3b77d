"""`tfcontroller dev-cluster` without the development tools: which missing module means "install
tfcontroller[dev]" (the tools or a package they need) and which is a broken controller install."""

from __future__ import annotations

import pytest

from tfcontroller.cli.devcluster_cmd import missing_dev_tools


@pytest.mark.parametrize("name", ["tfcontroller.dev", "tfcontroller.dev.cluster", "tfcontroller.dev.cluster.api"])
def test_missing_dev_tools_say_how_to_install_them(name: str) -> None:
    hint = missing_dev_tools(ModuleNotFoundError(f"No module named {name!r}", name=name))
    assert hint is not None
    assert "tfcontroller-dev" in hint and "pip install 'tfcontroller[dev]'" in hint and "make setup" in hint


@pytest.mark.parametrize(("name", "package"), [("kubernetes_validate", "kubernetes_validate"),
                                               ("aiosmtpd.controller", "aiosmtpd"), ("yaml", "yaml")])
def test_a_missing_dependency_of_the_dev_tools_is_named(name: str, package: str) -> None:
    hint = missing_dev_tools(ModuleNotFoundError(f"No module named {name!r}", name=name))
    assert hint is not None
    assert repr(package) in hint and "pip install 'tfcontroller[dev]'" in hint


@pytest.mark.parametrize("name", ["tfcontroller.api.mergepatch", "tfcontroller.kube", "tfcontroller.development",
                                  None])
def test_a_missing_module_of_the_controller_is_not_blamed_on_the_dev_tools(name: str | None) -> None:
    assert missing_dev_tools(ModuleNotFoundError("No module", name=name)) is None
