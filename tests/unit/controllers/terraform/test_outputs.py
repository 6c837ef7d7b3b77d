"""The outputs Secret's data (controllers/terraform/outputs.py): strings raw, other values as compact JSON,
only the listed outputs when a list is given, a missing listed output named in a Stalling error."""

from __future__ import annotations

import pytest

from tfcontroller.api.errors import StallingError
from tfcontroller.api.terraform import OutputsSecret
from tfcontroller.controllers.terraform.outputs import outputs_data


def test_outputs_data() -> None:
    outputs = {"s": {"value": "x"}, "n": {"value": 3}, "m": {"value": {"b": [1, 2], "a": True}}}
    assert outputs_data(outputs, OutputsSecret("o")) == {"m": b'{"a":true,"b":[1,2]}', "n": b"3", "s": b"x"}
    assert outputs_data(outputs, OutputsSecret("o", ("s",))) == {"s": b"x"}
    with pytest.raises(StallingError, match="no output nope"):
        outputs_data(outputs, OutputsSecret("o", ("s", "nope")))
