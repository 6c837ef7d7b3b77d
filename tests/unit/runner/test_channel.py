"""The runner's channel decisions without a server: which answers are worth another attempt, and that a
URL that is not https is refused at once (the runner never talks to its controller in the clear)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tfcontroller.runner.channel import ChannelError, RunChannel, retryable, status_is_final


@pytest.mark.parametrize(("status", "final"), [
    (400, True), (401, True), (403, True), (404, True), (405, True), (411, True), (413, True),
    (408, False), (429, False), (500, False), (502, False), (503, False), (504, False),
])
def test_4xx_other_than_408_and_429_is_final(status: int, final: bool) -> None:
    assert status_is_final(status) is final


def test_only_non_final_channel_errors_are_retried() -> None:
    assert retryable(ChannelError("refused", status=503))
    assert not retryable(ChannelError("forbidden", status=403, final=True))
    assert not retryable(ValueError("a bug is not retried"))


@pytest.mark.parametrize("url", ["http://127.0.0.1:8443", "127.0.0.1:8443", "https://", "ftp://host"])
def test_a_url_that_is_not_https_is_refused(url: str, tmp_path: Path) -> None:
    with pytest.raises(ChannelError) as refused:
        RunChannel(url, "", tmp_path / "token")
    assert refused.value.final and "https" in str(refused.value)
