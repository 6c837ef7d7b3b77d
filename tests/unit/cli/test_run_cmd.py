"""`tfcontroller run` flags become each controller's typed, frozen options, and every controller offers
the same registration shape (register / add_run_arguments / options_from_args): no untyped extras."""

from __future__ import annotations

import dataclasses
import inspect
from types import ModuleType

import pytest

from tfcontroller.cli.main import build_parser
from tfcontroller.cli.run_cmd import options_from_args
from tfcontroller.controllers import gitrepository, manifestset, planpolicy, terraform
from tfcontroller.controllers.gitrepository import GitRepositoryOptions
from tfcontroller.controllers.manifestset import ManifestSetOptions
from tfcontroller.controllers.planpolicy import PlanPolicyOptions
from tfcontroller.controllers.setup import ControllerOptions
from tfcontroller.controllers.terraform import DEFAULT_WORK_DIR, DriftMailOptions, TerraformOptions
from tfcontroller.controllers.terraform.drift.mail import FLAG_DESTS

CONTROLLERS = [gitrepository, manifestset, terraform, planpolicy]


def run_options(*argv: str) -> ControllerOptions:
    return options_from_args(build_parser().parse_args(["run", *argv]))


@pytest.mark.parametrize("module", CONTROLLERS, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_every_controller_has_the_same_registration_shape(module: ModuleType) -> None:
    assert list(inspect.signature(module.register).parameters) == ["manager", "kube", "options"]
    assert list(inspect.signature(module.add_run_arguments).parameters) == ["parser"]
    assert list(inspect.signature(module.options_from_args).parameters) == ["args"]


def test_no_flags_give_the_programmatic_defaults() -> None:
    opts = run_options()
    assert opts.gitrepository == GitRepositoryOptions()
    assert opts.manifestset == ManifestSetOptions()
    assert opts.terraform == TerraformOptions()
    assert opts.terraform.work_dir == DEFAULT_WORK_DIR and opts.terraform.drift_mail == DriftMailOptions()


def test_terraform_flags_reach_its_typed_options() -> None:
    opts = run_options(
        "--terraform-work-dir", "/w", "--terraform-binary", "/bin/tf", "--plugin-mirror-dir", "/m",
        "--plugin-cache-dir", "/c", "--keep-failed-workspaces", "--controller-namespace", "ops",
        "--state-lock-retry", "5", "--smtp-host", "relay", "--smtp-port", "2525", "--smtp-from", "tf@example.com",
        "--smtp-tls", "none", "--drift-email-default-to", "a@example.com,b@example.com",
        "--drift-email-default-to", "c@example.com",
    )
    tf = opts.terraform
    assert (tf.work_dir, tf.binary, tf.plugin_mirror_dir, tf.plugin_cache_dir) == ("/w", "/bin/tf", "/m", "/c")
    assert tf.keep_failed_workspaces and tf.controller_namespace == "ops" and tf.state_lock_retry == 5.0
    assert tf.reuse_init  # no flag: programmatic only
    mail = tf.drift_mail
    assert (mail.smtp_host, mail.smtp_port, mail.smtp_from, mail.smtp_tls) == ("relay", 2525, "tf@example.com", "none")
    assert mail.drift_email_default_to == ("a@example.com,b@example.com", "c@example.com")
    assert mail.email_transport == "smtp" and mail.smtp_username == ""


def test_tenancy_flags_reach_the_options_and_default_to_the_lockdown() -> None:
    """Issue 16: cross-namespace references refused and ManifestSets applied as the controller unless set."""
    opts = run_options()
    assert opts.allow_cross_namespace_refs is False and opts.manifestset.default_service_account is None
    opts = run_options("--allow-cross-namespace-refs", "--default-service-account", "tfcontroller-manifests")
    assert opts.allow_cross_namespace_refs is True
    assert opts.manifestset == ManifestSetOptions(default_service_account="tfcontroller-manifests")


def test_tenant_add_prints_with_dry_run_and_refuses_contradictions(capsys: pytest.CaptureFixture[str]) -> None:
    from tfcontroller.cli.main import main

    assert main(["tenant", "add", "team-a", "--dry-run", "--git-url", "https://git.example.com/a.git"]) == 0
    out = capsys.readouterr().out
    assert "kind: Namespace" in out and "tfcontroller.io/tenant: team-a" in out and "kind: ManifestSet" in out
    assert main(["tenant", "add", "team-a", "--dry-run", "--apply"]) == 2
    assert main(["tenant", "add", "Team_A", "--dry-run"]) == 2


def test_drift_mail_options_cover_exactly_the_mail_flags() -> None:
    assert set(DriftMailOptions().as_mapping()) == set(FLAG_DESTS)
    parsed = vars(build_parser().parse_args(["run"]))
    assert set(FLAG_DESTS) <= set(parsed)


@pytest.mark.parametrize("options", [GitRepositoryOptions(), ManifestSetOptions(), TerraformOptions(), PlanPolicyOptions(),
                                     DriftMailOptions()], ids=lambda o: type(o).__name__)
def test_controller_options_are_frozen(options: object) -> None:
    field = dataclasses.fields(options)[0].name  # type: ignore[arg-type]
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(options, field, None)


def test_controller_options_take_no_untyped_extras() -> None:
    names = {f.name for f in dataclasses.fields(ControllerOptions)}
    assert "extra" not in names and {"gitrepository", "manifestset", "terraform", "planpolicy"} <= names
    with pytest.raises(TypeError):
        dataclasses.replace(ControllerOptions(), terraform_work_dir="/w")  # type: ignore[call-arg]


def test_health_check_deny_cidrs_adds_to_the_defaults_and_allow_cidrs_carves_exceptions(
        capsys: pytest.CaptureFixture[str]) -> None:
    """Review s19, finding 3: what spec.healthChecks may reach is the operator's to change, not a team's, and
    adding networks to the deny list never drops the defaults (loopback, metadata, the controller's own
    addresses, the API server's): only `--health-check-allow-cidrs` opens a hole, and only the one it names."""
    from ipaddress import ip_network

    from tfcontroller.api.healthchecks import DEFAULT_DENY, denied_network
    from tfcontroller.controllers.terraform import probe_policy

    env = {"POD_IP": "10.244.1.7", "POD_IPS": "10.244.1.7,fd00:10:244::7", "KUBERNETES_SERVICE_HOST": "10.96.0.1"}
    assert run_options().terraform.health_check_deny == () and run_options().terraform.health_check_allow == ()
    default = probe_policy(run_options().terraform, env, "https://192.0.2.10:6443")
    assert set(DEFAULT_DENY) <= set(default.deny) and default.allow == ()
    for address in ("127.0.0.1", "169.254.169.254", "fd00:ec2::254", "10.244.1.7", "fd00:10:244::7", "10.96.0.1",
                    "192.0.2.10", "::ffff:10.244.1.7"):
        assert denied_network(address, default.deny, default.allow) is not None, address
    assert denied_network("10.244.1.8", default.deny, default.allow) is None  # another Pod

    more = run_options("--health-check-deny-cidrs", "10.0.0.0/8,fd00:ec2::254").terraform
    assert [str(n) for n in more.health_check_deny] == ["10.0.0.0/8", "fd00:ec2::254/128"]
    widened = probe_policy(more, env, None)
    for address in ("10.1.2.3", "127.0.0.1", "169.254.169.254", "10.96.0.1"):  # the defaults stay
        assert denied_network(address, widened.deny, widened.allow) is not None, address

    carved = probe_policy(run_options("--health-check-deny-cidrs=10.0.0.0/8",
                                      "--health-check-allow-cidrs=127.0.0.0/8,::1,10.1.0.0/16").terraform, env, None)
    for address in ("127.0.0.1", "::1", "10.1.2.3"):
        assert denied_network(address, carved.deny, carved.allow) is None, address
    for address in ("169.254.169.254", "10.2.0.1", "10.244.1.7", "10.96.0.1"):  # only the named holes open
        assert denied_network(address, carved.deny, carved.allow) is not None, address
    # an empty value adds nothing and, unlike before, drops nothing
    assert probe_policy(run_options("--health-check-deny-cidrs=").terraform, env, None).deny == \
        probe_policy(run_options().terraform, env, None).deny

    for flag in ("--health-check-deny-cidrs", "--health-check-allow-cidrs"):
        with pytest.raises(SystemExit):
            run_options(flag, "10.1.0.0/8")
        assert "'10.1.0.0/8' is not a CIDR" in capsys.readouterr().err
    assert ip_network("10.244.1.7/32") in default.deny
