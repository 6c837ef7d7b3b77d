"""docs/notifications.md shows each provider's payload for one example event; each example is what the
formatter produces for it (so the documented shape cannot drift from the code), and each is valid for
its schema in tests/fixtures/notify_schemas/. Regenerate the examples after a format change with
`python -m tests.unit.docs.test_notifications_doc` (prints the blocks to paste)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema

from tfcontroller.notify import event as ev
from tfcontroller.notify.formats import FORMATTERS

ROOT = Path(__file__).parents[3]
DOC = ROOT / "docs" / "notifications.md"
SCHEMAS = ROOT / "tests" / "fixtures" / "notify_schemas"
_BLOCK = re.compile(r"<!-- example: (\w+) -->\n```json\n(.*?)\n```", re.S)


def example_event() -> ev.NotificationEvent:
    obj = ev.ObjectRef("Terraform", "team-a", "orders-bucket", "7d0cdc51-ddcf-4743-b223-83ca5c699632",
                       "main@sha1:3b8f1c2d4e5f60718293a4b5c6d7e8f901234567")
    lines = [
        {"kind": "summary", "text": "Plan: 1 to add, 1 to change, 0 to destroy."},
        {"kind": "create", "text": "+ aws_sqs_queue.orders (create)", "indent": 1},
        {"kind": "attribute", "text": "name = \"orders\"", "indent": 3},
        {"kind": "update", "text": "~ aws_s3_bucket.orders (update)", "indent": 1},
        {"kind": "attribute", "text": "tags.env: \"dev\" -> \"prod\"", "indent": 3},
    ]
    policy = {"result": "warned", "results": [
        {"policy": "require-tags", "result": "passed"},
        {"policy": "no-public-buckets", "result": "warned", "messages": ["aws_s3_bucket.orders has no ACL set"]}]}
    return ev.plan_pending(obj, "plan-main-3b8f1c2d4e-9a8b7c6d", {"add": 1, "change": 1}, lines, policy=policy,
                           dashboard_url="https://tfcontroller.example.com/terraform/team-a/orders-bucket",
                           now=datetime(2026, 3, 1, 9, 30, 0, tzinfo=UTC))


def rendered() -> dict[str, str]:
    return {name: json.dumps(fmt(example_event()), indent=2, ensure_ascii=False) for name, fmt in FORMATTERS.items()}


def _documented() -> dict[str, str]:
    return dict(_BLOCK.findall(DOC.read_text()))


def test_every_provider_has_an_example_equal_to_its_formatter_output() -> None:
    documented = _documented()
    assert set(documented) == set(FORMATTERS)
    for name, text in rendered().items():
        assert json.loads(documented[name]) == json.loads(text), (
            f"docs/notifications.md's {name} example is out of date: python -m tests.unit.docs.test_notifications_doc")


def test_every_example_is_valid_for_its_schema() -> None:
    for name, text in _documented().items():
        doc: Any = json.loads(text)
        jsonschema.validate(doc, json.loads((SCHEMAS / f"{name}.json").read_text()))


if __name__ == "__main__":
    for name, text in rendered().items():
        print(f"<!-- example: {name} -->\n```json\n{text}\n```\n")
