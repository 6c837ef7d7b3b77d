"""Termination messages, pure parts: the file's tail (4096 bytes), FallbackToLogsOnError (the log's last
80 lines and 2048 bytes, on a failure only), the Pod's 12 KiB shared by its containers."""

from __future__ import annotations

from pathlib import Path

from tfcontroller.dev.cluster.node import termination as tm


def test_file_message_and_its_tail(tmp_path: Path) -> None:
    path = tmp_path / "msg"
    assert tm.read_message_file(path) == b""  # missing
    path.write_bytes(b"a" * 5000 + b"end")
    data = tm.read_message_file(path)
    assert len(data) == 4096 and data.endswith(b"end")
    assert tm.message_path({}) == "/dev/termination-log" and tm.message_path({"terminationMessagePath": "/m"}) == "/m"


def test_fallback_to_logs_only_when_the_file_is_empty_and_the_container_failed() -> None:
    logs = b"boom\n"
    assert tm.termination_message(b"", tm.FALLBACK_TO_LOGS, 1, logs) == "boom\n"
    assert tm.termination_message(b"", tm.FALLBACK_TO_LOGS, 137, logs) == "boom\n"  # OOMKilled too
    assert tm.termination_message(b"", tm.FALLBACK_TO_LOGS, 0, logs) == ""  # success: never the log
    assert tm.termination_message(b"file", tm.FALLBACK_TO_LOGS, 1, logs) == "file"  # the file wins
    assert tm.termination_message(b"", tm.FILE, 1, logs) == ""
    assert tm.termination_message(b"", "", 1, logs) == ""  # unset = File


def test_log_tail_is_80_lines_then_2048_bytes() -> None:
    short = b"".join(b"l%d\n" % i for i in range(100))
    assert tm.log_tail(short) == b"".join(b"l%d\n" % i for i in range(20, 100))
    long = b"".join(b"%099d\n" % i for i in range(50))
    assert tm.log_tail(long) == long[-2048:]


def test_pod_messages_share_12_kib_in_state_and_last_state() -> None:
    def cs(message: str) -> dict[str, object]:
        return {"state": {"terminated": {"exitCode": 1, "message": message}},
                "lastState": {"terminated": {"exitCode": 1, "message": message}}}

    status = {"phase": "Failed", "containerStatuses": [cs("a" * 4096), cs("short")],
              "initContainerStatuses": [cs("b" * 4096), {"state": {"running": {}}}]}
    capped = tm.cap_pod_messages(status, 4)
    first = capped["containerStatuses"][0]
    assert first["state"]["terminated"]["message"] == "a" * 3072 and first["lastState"]["terminated"]["message"] == "a" * 3072
    assert capped["containerStatuses"][1]["state"]["terminated"]["message"] == "short"
    assert capped["initContainerStatuses"][0]["state"]["terminated"]["message"] == "b" * 3072
    assert status["containerStatuses"][0]["state"]["terminated"]["message"] == "a" * 4096  # input unchanged
    assert tm.cap_pod_messages(status, 1) == status  # one container: its 4096 fit in 12 KiB
