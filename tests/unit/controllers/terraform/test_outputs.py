"""The outputs Secret's data (controllers/terraform/outputs.py): strings raw, other values as compact JSON,
only the listed outputs when a list is given, a missing listed output named in a Stalling error."""

from __future__ import annotations

import pytest

from tfcontroller.api.errors import StallingError
from tfcontroller.api.terraform import OutputsSecret
from tfcontroller.controllers.terraform.outputs import outputs_data, stale_metadata


def test_outputs_data() -> None:
    outputs = {"s": {"value": "x"}, "n": {"value": 3}, "m": {"value": {"b": [1, 2], "a": True}}}
    assert outputs_data(outputs, OutputsSecret("o")) == {"m": b'{"a":true,"b":[1,2]}', "n": b"3", "s": b"x"}
    assert outputs_data(outputs, OutputsSecret("o", ("s",))) == {"s": b"x"}
    with pytest.raises(StallingError, match="no output nope"):
        outputs_data(outputs, OutputsSecret("o", ("s", "nope")))


def test_renamed_outputs_are_written_under_their_keys() -> None:
    """Issue 20: `output:key` entries write the value under the key; the others keep their own name."""
    outputs = {"vpc_id": {"value": "vpc-1"}, "region": {"value": "eu"}, "n": {"value": 2}}
    wanted = OutputsSecret("o", ("vpc_id", "region"), (("vpc_id", "network_id"), ("region", "region")))
    assert outputs_data(outputs, wanted) == {"network_id": b"vpc-1", "region": b"eu"}
    with pytest.raises(StallingError, match="no output nope"):
        outputs_data(outputs, OutputsSecret("o", ("nope",), (("nope", "k"),)))


@pytest.mark.parametrize(("previous", "labels", "annotations", "want"), [
    (None, {"a": "1"}, {}, {"labels": [], "annotations": []}),  # first write: nothing recorded
    ('{"labels":["a","b"],"annotations":["x/y"]}', {"a": "1"}, {}, {"labels": ["b"], "annotations": ["x/y"]}),
    ('{"labels":["a"],"annotations":[]}', {"a": "2"}, {"n": "v"}, {"labels": [], "annotations": []}),
    ('not json', {}, {}, {"labels": [], "annotations": []}),  # an unreadable record removes nothing
    ('["a"]', {}, {}, {"labels": [], "annotations": []}),
    ('{"labels":"a","annotations":[3,"tfcontroller.io/x","k"]}', {}, {}, {"labels": [], "annotations": ["k"]}),
])
def test_stale_metadata_only_what_we_set_before(previous: str | None, labels: dict[str, str],
                                                annotations: dict[str, str], want: dict[str, list[str]]) -> None:
    """Labels/annotations we set last time and the spec dropped are removed; ours (`tfcontroller.io/`)
    and those we never recorded (somebody else's) never are."""
    wanted = OutputsSecret("o", labels=tuple(labels.items()), annotations=tuple(annotations.items()))
    assert stale_metadata(previous, wanted) == want
