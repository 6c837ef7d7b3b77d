"""The notification controllers (issue 19): `register(manager, kube, options)`, their typed options and the
flags of `tfcontroller run`.

Layout (one file per seam, as every controller package):
- `__init__.py`          register, NotificationOptions, the rule Controller's indexes and watches
- rule_reconciler.py     the NotificationRule frame: observe → outbox → deliver → status (docs/architecture.md)
- delivery.py            a provider's settings → HTTP target or mail transport; rate limit; the send
- object_secrets.py      what a delivery reads of the object: its Secrets' values (scrub), its plan's diff
- metrics.py             sent / failed / pending by provider type
- context.py             the RuleContext the steps share; constants
- provider_reconciler.py the NotificationProvider controller (Ready, SecretNotFound, DeliveryRejected)
- provider_secrets.py    a provider's Secrets resolved (address, token, proxy, CA, smtp keys, versions)

Watches of the rule controller: Terraform and ManifestSet objects through an index of the namespaces each
rule observes (any change of an object there — a new pending plan, drift, a failure — re-evaluates those
rules), read from the manager's shared informers (the same cache the Terraform and ManifestSet
controllers use, never a list per reconcile); NotificationProviders through an index of each rule's
providerRefs (a provider that turns Ready again — its Secret fixed — sends what waited for it). A Secret
change reaches rules through the provider controller's status update.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tfcontroller.controllers.notification.context import (
    INDEX_NAMESPACES,
    INDEX_PROVIDERS,
    RULE_CONTROLLER_NAME,
)
from tfcontroller.controllers.notification.delivery import Deliverer, MailDefaults
from tfcontroller.controllers.notification.metrics import NotificationMetrics
from tfcontroller.controllers.notification.provider_reconciler import (
    ProviderReconciler,
    new_provider_controller,
)
from tfcontroller.controllers.notification.rule_reconciler import RuleReconciler
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import MANIFESTSETS, NOTIFICATIONPROVIDERS, NOTIFICATIONRULES, TERRAFORMS
from tfcontroller.notify.http_delivery import BACKOFF_BASE
from tfcontroller.runtime.manager import Controller, Watch

if TYPE_CHECKING:
    from tfcontroller.controllers.setup import ControllerManager

Obj = dict[str, Any]


@dataclass(frozen=True)
class NotificationOptions:
    """What `tfcontroller run` (or a test) configures for the notification controllers."""

    # the dashboard's external URL (its --external-url): a plan-pending message links to the plan's page
    dashboard_url: str = ""
    # first retry delay after a failed delivery without Retry-After (doubling up to 30 min); tests shorten it
    retry_base: float = BACKOFF_BASE.total_seconds()
    # smtp providers without a secretRef and ses providers: the controller's --smtp-*/--ses-* settings, which
    # controllers/setup.py takes from the Terraform controller's drift e-mail flags (one parser of them)
    mail: MailDefaults = field(default_factory=MailDefaults)


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """This controller's flags of `tfcontroller run` (the mail flags are the drift e-mail's, shared)."""
    g = parser.add_argument_group("notifications")
    g.add_argument("--dashboard-url", default="", metavar="URL",
                   help="the dashboard's external URL (its --external-url): plan-pending notifications link to "
                        "the plan's page there; default: no link")


def options_from_args(args: argparse.Namespace) -> NotificationOptions:
    return NotificationOptions(dashboard_url=str(getattr(args, "dashboard_url", "") or "").strip())


def index_observed_namespaces(obj: Obj) -> list[str]:
    """The namespaces a rule's selector observes (default: its own), read leniently from the raw spec: a
    rule with a bad spec still gets reconciled (and reports it) when an object there changes."""
    own = str((obj.get("metadata") or {}).get("namespace") or "default")
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    selector = (spec or {}).get("selector")
    names = selector.get("namespaces") if isinstance(selector, dict) else None
    listed = [str(n) for n in names if isinstance(n, str) and n] if isinstance(names, list) else []
    return listed or [own]


def index_provider_refs(obj: Obj) -> list[str]:
    """`<namespace>/<name>` of each providerRef (same namespace as the rule)."""
    own = str((obj.get("metadata") or {}).get("namespace") or "default")
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    refs = (spec or {}).get("providerRefs")
    if not isinstance(refs, list):
        return []
    return [f"{own}/{ref['name']}" for ref in refs if isinstance(ref, dict) and isinstance(ref.get("name"), str)]


def _namespace_of(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("namespace") or "default")


def _key_of(obj: Obj) -> str:
    return f"{_namespace_of(obj)}/{(obj.get('metadata') or {}).get('name', '')}"


def new_rule_controller(reconciler: RuleReconciler, label_selector: str | None = None) -> Controller:
    """The rule Controller: Terraform/ManifestSet changes by observed namespace, providers by providerRef."""
    return Controller(
        name=RULE_CONTROLLER_NAME,
        resource=NOTIFICATIONRULES,
        reconcile=reconciler.reconcile,
        indexes={INDEX_NAMESPACES: index_observed_namespaces, INDEX_PROVIDERS: index_provider_refs},
        watches=[
            Watch(TERRAFORMS, index=INDEX_NAMESPACES, value_fn=_namespace_of, label_selector=label_selector),
            Watch(MANIFESTSETS, index=INDEX_NAMESPACES, value_fn=_namespace_of, label_selector=label_selector),
            Watch(NOTIFICATIONPROVIDERS, index=INDEX_PROVIDERS, value_fn=_key_of),
        ],
    )


def register(manager: ControllerManager, kube: KubeClient, options: NotificationOptions) -> RuleReconciler:
    """Add the NotificationRule and NotificationProvider controllers to `manager`."""
    selector = manager.options.watch_label_selector
    sources = [manager.informer(TERRAFORMS, label_selector=selector),
               manager.informer(MANIFESTSETS, label_selector=selector)]
    reconciler = RuleReconciler(
        kube, sources, Deliverer(options.mail), NotificationMetrics(manager.metrics.registry), manager.events,
        dashboard_url=options.dashboard_url,
        allow_cross_namespace_refs=manager.controller_options.allow_cross_namespace_refs,
        backoff_base=options.retry_base)
    manager.add_controller(new_rule_controller(reconciler, selector))
    manager.add_controller(new_provider_controller(ProviderReconciler(kube, manager.events)))
    return reconciler


__all__ = ["MailDefaults", "NotificationOptions", "RuleReconciler", "add_run_arguments", "index_observed_namespaces",
           "index_provider_refs", "new_rule_controller", "options_from_args", "register"]
