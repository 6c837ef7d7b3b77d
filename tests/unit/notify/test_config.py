"""Unit tests of notify.config: SMTPConfig from Secret data (decoded or base64) and flags, defaults,
validation errors, and that repr/str never show the password."""

from __future__ import annotations

import base64

import pytest

from tfcontroller.api.redact import scrub
from tfcontroller.notify.config import SESConfig, SMTPConfig
from tfcontroller.notify.errors import ConfigError, DeliveryError

PASSWORD = "s3cr3t-smtp-pw"


def test_from_secret_data_decoded_and_encoded_agree() -> None:
    data = {"host": "mail.example.com", "port": "2525", "username": "bot", "password": PASSWORD,
            "from": "tf@example.com", "tls": "tls"}
    cfg = SMTPConfig.from_secret_data(data)
    assert (cfg.host, cfg.port, cfg.username, cfg.password, cfg.from_addr, cfg.tls) == (
        "mail.example.com", 2525, "bot", PASSWORD, "tf@example.com", "tls")
    encoded = {k: base64.b64encode(v.encode()) for k, v in data.items()}
    assert SMTPConfig.from_secret_data(encoded, encoded=True) == cfg
    assert SMTPConfig.from_secret_data({k: v.encode() for k, v in data.items()}) == cfg


@pytest.mark.parametrize(("tls", "port"), [("none", 25), ("starttls", 587), ("tls", 465), ("STARTTLS", 587)])
def test_port_defaults_follow_tls_mode(tls: str, port: int) -> None:
    cfg = SMTPConfig.from_secret_data({"host": "h", "from": "a@b.c", "tls": tls})
    assert cfg.port == port and cfg.tls == tls.lower()


def test_password_never_in_repr_or_str() -> None:
    cfg = SMTPConfig.from_flags(host="h", from_addr="a@b.c", username="bot", password=PASSWORD)
    for text in (repr(cfg), str(cfg), f"{cfg}", repr([cfg])):
        assert PASSWORD not in text
    assert "bot" in str(cfg)


@pytest.mark.parametrize(("data", "match"), [
    ({"from": "a@b.c"}, "lacks key.*host"),
    ({"host": "h"}, "lacks key.*from"),
    ({"host": "h", "from": "a@b.c", "tls": "ssl"}, "tls must be one of"),
    ({"host": "h", "from": "a@b.c", "port": "smtp"}, "not a number"),
    ({"host": "h", "from": "a@b.c", "port": "70000"}, "out of range"),
    ({"host": "h", "from": "not-an-address"}, "not an e-mail address"),
    ({"host": "h", "from": "a@b.c", "password": PASSWORD}, "without a username"),
])
def test_invalid_secret_data(data: dict[str, str], match: str) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        SMTPConfig.from_secret_data(data)
    assert PASSWORD not in str(info.value)


def test_bad_base64_is_reported_by_key_only() -> None:
    with pytest.raises(ConfigError, match="'password' is not valid base64") as info:
        SMTPConfig.from_secret_data({"host": "aA==", "from": "YUBiLmM=", "password": "%%%" + PASSWORD},
                                    encoded=True)
    assert PASSWORD not in str(info.value)


def test_ses_config_and_error_helpers() -> None:
    with pytest.raises(ConfigError):
        SESConfig(from_addr="nobody")
    assert SESConfig(from_addr="a@b.c", region="us-east-1").region == "us-east-1"
    assert scrub(f"535 bad {PASSWORD} given", [PASSWORD, None]) == "535 bad *** given"
    err = DeliveryError("AuthFailed", "refused", transient=True)
    assert str(err) == "AuthFailed: refused" and err.transient
