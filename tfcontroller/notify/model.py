"""The shape of a drift report as notify reads it.

`tfcontroller.terraform.drift.DriftReport` fits these protocols; notify names the shape instead of
importing it because the domain libraries (terraform, notify, ...) are independent siblings in the
layer contract (.importlinter), and the reconciler is what passes one to the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

SENSITIVE = "(sensitive)"  # the placeholder terraform.drift puts in place of sensitive values


@runtime_checkable
class AttributeChangeLike(Protocol):
    @property
    def path(self) -> str: ...
    @property
    def before(self) -> Any: ...
    @property
    def after(self) -> Any: ...
    @property
    def sensitive(self) -> bool: ...


@runtime_checkable
class DriftedResourceLike(Protocol):
    @property
    def address(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def remediation(self) -> str: ...
    @property
    def changed_attributes(self) -> Sequence[AttributeChangeLike]: ...


@runtime_checkable
class DriftReportLike(Protocol):
    @property
    def resources(self) -> Sequence[DriftedResourceLike]: ...
    @property
    def drifted(self) -> bool: ...
    @property
    def addresses(self) -> list[str]: ...
    @property
    def fingerprint(self) -> str: ...


def resource_count(n: int) -> str:
    """'1 resource' / '3 resources'."""
    return f"{n} resource" if n == 1 else f"{n} resources"


def summary(report: DriftReportLike) -> str:
    """'3 resources changed outside Terraform: a, b, c' naming every resource."""
    n = len(report.resources)
    if n == 0:
        return "No resources changed outside Terraform"
    return f"{resource_count(n)} changed outside Terraform: {', '.join(report.addresses)}"
