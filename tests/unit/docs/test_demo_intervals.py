"""The README and docs/demo.md say how often the demo's stacks are drift-checked and re-planned, and the
demo's Git repository (examples/) decides it (issue 13, point 20: the tour once said production is not
re-planned while its drift check ran every 30 s). Each document must name each stack's
`driftDetection.interval` as it is in examples/, so changing one without the other fails here."""

from __future__ import annotations

import re

import pytest
import yaml

from tests.support.paths import REPO_ROOT
from tfcontroller.api.duration import parse_duration

STACKS = REPO_ROOT / "examples" / "clusters" / "dev-cluster" / "infrastructure"
DOCS = ("README.md", "docs/demo.md")


def in_words(seconds: float) -> str:
    """How the documents write an interval: `30 s`, `10 minutes`."""
    if seconds < 60:
        return f"{seconds:g} s"
    minutes = seconds / 60
    return f"{minutes:g} minute" + ("" if minutes == 1 else "s")


def drift_interval(stack: str) -> float:
    doc = yaml.safe_load((STACKS / f"app-stack-{stack}.yaml").read_text())
    return parse_duration(doc["spec"]["driftDetection"]["interval"])


@pytest.mark.parametrize("doc", DOCS)
def test_each_document_names_each_stacks_drift_interval_as_examples_set_it(doc: str) -> None:
    text = " ".join((REPO_ROOT / doc).read_text().split())  # lines joined: a phrase may wrap
    dev, prod = in_words(drift_interval("dev")), in_words(drift_interval("prod"))
    assert dev != prod  # the tour's story: production is checked far less often
    assert re.search(rf"every {re.escape(dev)}\b[^.]*dev|dev[^.]*every {re.escape(dev)}\b", text), (doc, dev)
    assert re.search(rf"every {re.escape(prod)}\b[^.]*prod|prod[^.]*every {re.escape(prod)}\b", text), (doc, prod)
    for said in re.findall(r"every (\d+ (?:s|minutes?))\b", text):
        assert said in (dev, prod, "5 s"), f"{doc} names an interval examples/ does not set: every {said}"
