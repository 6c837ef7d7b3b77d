"""The outputs an apply reports in its `-json` stream (terraform/runner.applied_outputs, issue 21): the
runner takes output names and sensitivity from there instead of starting `terraform output`. The messages
are Terraform 1.11's own, captured from real applies: a module without outputs ends with `outputs: {}`,
an `-auto-approve` apply lists them twice (planned actions first, then the values), and a stream without
the message (an older or interrupted one) gives None, so the runner falls back to `terraform output`."""

from __future__ import annotations

from tfcontroller.terraform.runner import applied_outputs

PLANNED = {"@level": "info", "@message": "Outputs: 2", "@module": "terraform.ui", "type": "outputs",
           "outputs": {"o": {"sensitive": False, "action": "create"}, "s": {"sensitive": True, "action": "create"}}}
APPLIED = {"@level": "info", "@message": "Outputs: 2", "@module": "terraform.ui", "type": "outputs",
           "outputs": {"o": {"sensitive": False, "type": "string", "value": "a"}, "s": {"sensitive": True, "type": "string"}}}
NONE = {"@level": "info", "@message": "Outputs: 0", "@module": "terraform.ui", "type": "outputs", "outputs": {}}
COMPLETE = {"@level": "info", "@message": "Apply complete! Resources: 1 added, 0 changed, 0 destroyed.",
            "type": "change_summary", "changes": {"add": 1, "change": 0, "remove": 0, "operation": "apply"}}


def test_the_last_outputs_message_counts() -> None:
    assert applied_outputs([PLANNED, COMPLETE, APPLIED]) == APPLIED["outputs"]


def test_a_module_without_outputs_gives_an_empty_dict_not_none() -> None:
    assert applied_outputs([COMPLETE, NONE]) == {}


def test_a_stream_without_the_message_gives_none() -> None:
    assert applied_outputs([COMPLETE]) is None
    assert applied_outputs([]) is None
    assert applied_outputs([{"type": "outputs", "outputs": "not a dict"}]) is None


def test_sensitivity_survives_a_removed_output() -> None:
    """An output removed by the apply is not in the final message (it is no longer in the state)."""
    planned = {"type": "outputs", "outputs": {"gone": {"sensitive": False, "action": "delete"},
                                              "s": {"sensitive": True, "action": "noop"}}}
    final = {"type": "outputs", "outputs": {"s": {"sensitive": True, "type": "string"}}}
    assert applied_outputs([planned, final]) == {"s": {"sensitive": True, "type": "string"}}
