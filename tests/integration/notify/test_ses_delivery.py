"""Drift mail sent through SESTransport (boto3 `send_raw_email`) to a real moto server started by this
module in a subprocess; the sent raw MIME is read back from moto's `/moto-api/data.json` and parsed.
Also: an unverified sender is a permanent `Rejected` DeliveryError, an unreachable endpoint a transient
`ConnectionFailed` one."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from email import policy
from email.parser import BytesParser
from pathlib import Path

import boto3
import pytest
import requests

from tests.support.sample_plan import SECRETS, drift_plan
from tfcontroller.notify.config import SESConfig
from tfcontroller.notify.errors import DeliveryError
from tfcontroller.notify.report import DriftTarget, build_drift_email
from tfcontroller.notify.ses import SESTransport
from tfcontroller.terraform.drift import analyze

REGION = "us-east-1"
FROM = "drift@example.com"
TO = ["ops@example.com"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    moto = Path(sys.executable).with_name("moto_server")
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("wb")
    proc = subprocess.Popen([str(moto), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{endpoint}/moto-api/data.json", timeout=1).ok:
                    break
            except requests.ConnectionError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"moto_server did not start (exit code {proc.poll()})")
            time.sleep(0.1)
        yield endpoint
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


def _sent(endpoint: str) -> list[dict]:
    return requests.get(f"{endpoint}/moto-api/data.json", timeout=5).json().get("ses", {}).get("RawMessage", [])


def test_send_raw_email_through_ses(moto_endpoint: str, aws_env: None) -> None:
    boto3.client("ses", region_name=REGION, endpoint_url=moto_endpoint).verify_email_identity(EmailAddress=FROM)
    before = len(_sent(moto_endpoint))
    target = DriftTarget("infra", "queue", revision="main@sha1:" + "c" * 40, plan_id="plan-main-cccccccccc-1")
    msg = build_drift_email(analyze(drift_plan()), target, to=TO, from_addr=FROM)

    message_id = SESTransport(SESConfig(from_addr=FROM, region=REGION, endpoint_url=moto_endpoint)).send(msg, TO)

    assert message_id
    sent = _sent(moto_endpoint)
    assert len(sent) == before + 1
    record = sent[-1]
    assert record["source"] == FROM and TO[0] in record["destinations"]
    raw = record["raw_data"].encode()
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    assert parsed["Subject"] == "[drift] infra/queue: 3 resources changed outside Terraform"
    assert parsed["Message-ID"] == msg["Message-ID"]
    assert "aws_sqs_queue.jobs" in parsed.get_body(("plain",)).get_content()
    for secret in SECRETS:
        assert secret.encode() not in raw


def test_unverified_sender_is_rejected_permanently(moto_endpoint: str, aws_env: None) -> None:
    sender = "nobody-verified@example.org"
    msg = build_drift_email(analyze(drift_plan()), DriftTarget("ns", "n"), to=TO, from_addr=sender)
    with pytest.raises(DeliveryError) as info:
        SESTransport(SESConfig(from_addr=sender, region=REGION, endpoint_url=moto_endpoint)).send(msg, TO)
    assert info.value.reason == "Rejected" and not info.value.transient
    assert "MessageRejected" in str(info.value)


def test_unreachable_endpoint_is_transient(aws_env: None) -> None:
    endpoint = f"http://127.0.0.1:{_free_port()}"
    msg = build_drift_email(analyze(drift_plan()), DriftTarget("ns", "n"), to=TO, from_addr=FROM)
    with pytest.raises(DeliveryError) as info:
        SESTransport(SESConfig(from_addr=FROM, region=REGION, endpoint_url=endpoint)).send(msg, TO)
    assert info.value.reason == "ConnectionFailed" and info.value.transient
    assert "testing" not in str(info.value)  # credentials are not echoed
