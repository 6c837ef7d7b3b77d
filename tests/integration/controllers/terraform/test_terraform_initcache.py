"""Reuse of an object's initialised Terraform data dir (controllers/terraform/initcache.py): the init key, the
directory's lifecycle (attach, record, invalidate, forget, the saved lock file restored), and with real
terraform on the dev cluster: the second run of an object starts no `terraform init`; a module change
that needs init (a new local module call) is detected by Terraform, initialised and applied in the same
reconcile; deleting the object removes its directory."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from tests.support.holds import HoldServer
from tests.support.terraform_helpers import SIMPLE_TF, CountingTerraform, Harness, ready_reason, wait_for
from tfcontroller.controllers.terraform import TerraformReconciler
from tfcontroller.kube.resources import TERRAFORMS
from tfcontroller.terraform.config import TerraformConfig, Timeouts
from tfcontroller.terraform.initcache import LOCK_FILE, InitCache, init_key


def _key(**changes: object) -> str:
    base: dict = {"backend_hcl": "b", "workspace": "default", "terraform_version": "1.11.4", "cli_config": "{}",
                  "shipped_lock": None}
    return init_key(**{**base, **changes})


def test_init_key_covers_what_init_decides() -> None:
    assert _key() == _key()
    for change in ({"backend_hcl": "c"}, {"workspace": "prod"}, {"terraform_version": "1.12.0"},
                   {"cli_config": '{"plugin_cache_dir": "/x"}'}, {"shipped_lock": b"lock"}):
        assert _key(**change) != _key(), change


def test_cache_directory_lifecycle(tmp_path: Path) -> None:
    cache = InitCache(tmp_path / "init")
    module = tmp_path / "module"
    module.mkdir()
    data, reusable = cache.attach("ns/app", module, "k1")
    assert not reusable and data.is_dir()
    (data / "providers").mkdir()
    (module / LOCK_FILE).write_text("# lock from init\n")
    cache.record("ns/app", module, "k1")

    fresh = tmp_path / "module2"  # the next run's module: no lock file shipped
    fresh.mkdir()
    data2, reusable = cache.attach("ns/app", fresh, "k1")
    assert reusable and data2 == data and (data / "providers").is_dir()
    assert (fresh / LOCK_FILE).read_text() == "# lock from init\n"

    cache.invalidate("ns/app")  # an init in progress: not reusable until recorded again
    assert cache.attach("ns/app", fresh, "k1")[1] is False
    assert not (data / "providers").exists()  # emptied for a fresh init
    cache.record("ns/app", fresh, "k2")
    assert cache.attach("ns/app", fresh, "k1")[1] is False  # another key
    cache.forget("ns/app")
    assert not cache.dir_for("ns/app").exists()
    assert cache.dir_for("ns/app") != cache.dir_for("ns/other")


def test_second_run_skips_init_and_a_new_module_call_inits_again(harness: Harness, git_file_remote,
                                                                 tmp_path: Path, holds: HoldServer) -> None:
    terraform = CountingTerraform(tmp_path, holds)
    harness.options = dataclasses.replace(harness.options, terraform=TerraformConfig.from_env(
        binary=str(terraform.path), timeouts=Timeouts(grace=5.0)))
    harness.reconciler = TerraformReconciler(harness.kube, harness.options)
    remote = git_file_remote("infra")
    harness.publish("src", remote.bare, remote.commit({"tf/main.tf": SIMPLE_TF}))
    harness.create("app", path="./tf", vars=[{"name": "greeting", "value": "one"}])
    harness.reconcile_until("app", lambda o: ready_reason(o) == "True/ApplySucceeded", what="first apply")
    assert terraform.count("init") == 1

    harness.patch("app", {"spec": {"vars": [{"name": "greeting", "value": "two"}]}})
    harness.reconcile_until("app", lambda o: o["status"].get("lastAppliedInputsDigest") == o["status"].get(
        "inputsDigest") and ready_reason(o) == "True/ApplySucceeded" and o["status"]["lastAppliedPlan"], what="second")
    assert harness.state("app")["outputs"]["greeting"]["value"] == "two"
    assert terraform.count("init") == 1 and terraform.count("apply") == 2  # no init for the second run

    # A local module call needs init; Terraform says so, the controller inits and applies at once.
    with_module = SIMPLE_TF + '\nmodule "extra" {\n  source = "../shared"\n}\n'
    commit = remote.commit({"tf/main.tf": with_module,
                            "shared/main.tf": 'resource "terraform_data" "shared" {\n  input = "s"\n}\n'})
    harness.publish("src", remote.bare, commit)
    obj = harness.reconcile("app")
    assert ready_reason(obj) == "True/ApplySucceeded", obj["status"]
    assert obj["status"]["lastAppliedRevision"] == f"main@sha1:{commit}"
    assert terraform.count("init") == 2
    assert "module.extra.terraform_data.shared" in {
        f"module.extra.{r['type']}.{r['name']}" for r in harness.state("app")["resources"] if r.get("module")}

    cache_dir = harness.reconciler.init_cache.dir_for("default/app")
    assert cache_dir.is_dir()
    harness.kube.delete(TERRAFORMS, "app", "default")
    harness.reconcile("app")
    wait_for(lambda: harness.kube.get_or_none(TERRAFORMS, "app", "default") is None, 10, "the object to go")
    assert not cache_dir.exists()
