"""Mail delivery configuration, from a Kubernetes Secret's data or from command-line flags.

The password is kept out of repr/str so that logging the configuration, or an exception that holds it,
never discloses it.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from tfcontroller.notify.errors import ConfigError

TLSMode = Literal["none", "starttls", "tls"]
TLS_MODES: tuple[str, ...] = ("none", "starttls", "tls")
DEFAULT_PORTS: dict[str, int] = {"none": 25, "starttls": 587, "tls": 465}
DEFAULT_TIMEOUT = 10.0

# Secret keys, as documented for `--smtp-secret NAMESPACE/NAME`.
SECRET_KEYS = ("host", "port", "username", "password", "from", "tls")


@dataclass(frozen=True)
class SMTPConfig:
    """How to reach an SMTP server. `ca_file` adds a CA bundle to trust (a private relay, or tests);
    verification itself is never turned off."""

    host: str
    from_addr: str
    port: int = 587
    username: str = ""
    password: str = field(default="", repr=False)
    tls: TLSMode = "starttls"
    timeout: float = DEFAULT_TIMEOUT
    ca_file: str | None = None

    def __post_init__(self) -> None:
        if not self.host:
            raise ConfigError("SMTP host is empty")
        if not self.from_addr or "@" not in self.from_addr:
            raise ConfigError(f"SMTP from address {self.from_addr!r} is not an e-mail address")
        if self.tls not in TLS_MODES:
            raise ConfigError(f"SMTP tls must be one of {', '.join(TLS_MODES)}, not {self.tls!r}")
        if not 0 < self.port < 65536:
            raise ConfigError(f"SMTP port {self.port} is out of range")
        if self.password and not self.username:
            raise ConfigError("SMTP password given without a username")
        if self.timeout <= 0:
            raise ConfigError("SMTP timeout must be positive")

    def __str__(self) -> str:
        auth = f"{self.username}@" if self.username else ""
        return f"smtp://{auth}{self.host}:{self.port} (tls={self.tls}, from={self.from_addr})"

    @classmethod
    def from_secret_data(
        cls, data: Mapping[str, str | bytes], *, encoded: bool = False, ca_file: str | None = None
    ) -> SMTPConfig:
        """From a Secret's data: decoded values (`stringData`-like), or base64 as stored when `encoded`.

        `port` defaults to the usual port of the TLS mode (25, 587, 465); `tls` defaults to starttls.
        """
        values: dict[str, str] = {}
        for key in SECRET_KEYS:
            raw = data.get(key)
            if raw is None:
                continue
            try:
                if encoded:
                    raw = base64.b64decode(raw, validate=True)
                values[key] = (raw.decode() if isinstance(raw, bytes) else raw).strip()
            except (ValueError, UnicodeDecodeError):
                raise ConfigError(f"SMTP secret key {key!r} is not valid {'base64 ' if encoded else ''}text") from None
        missing = [k for k in ("host", "from") if not values.get(k)]
        if missing:
            raise ConfigError(f"SMTP secret lacks key(s): {', '.join(missing)}")
        return cls.from_flags(
            host=values["host"],
            port=values.get("port") or None,
            username=values.get("username", ""),
            password=values.get("password", ""),
            from_addr=values["from"],
            tls=values.get("tls") or "starttls",
            ca_file=ca_file,
        )

    @classmethod
    def from_flags(
        cls,
        *,
        host: str,
        from_addr: str,
        port: int | str | None = None,
        username: str = "",
        password: str = "",
        tls: str = "starttls",
        timeout: float = DEFAULT_TIMEOUT,
        ca_file: str | None = None,
    ) -> SMTPConfig:
        """From command-line flag values; strings are parsed and checked here, once."""
        tls = tls.lower()
        if tls not in TLS_MODES:
            raise ConfigError(f"SMTP tls must be one of {', '.join(TLS_MODES)}, not {tls!r}")
        if port in (None, ""):
            port_n = DEFAULT_PORTS[tls]
        else:
            try:
                port_n = int(port)
            except ValueError:
                raise ConfigError(f"SMTP port {port!r} is not a number") from None
        return cls(
            host=host,
            port=port_n,
            username=username,
            password=password,
            from_addr=from_addr,
            tls=tls,  # type: ignore[arg-type]
            timeout=timeout,
            ca_file=ca_file,
        )


@dataclass(frozen=True)
class SESConfig:
    """Amazon SES (or an emulator at `endpoint_url`); credentials come from boto3's usual chain."""

    from_addr: str
    region: str | None = None
    endpoint_url: str | None = None
    configuration_set: str | None = None

    def __post_init__(self) -> None:
        if not self.from_addr or "@" not in self.from_addr:
            raise ConfigError(f"SES from address {self.from_addr!r} is not an e-mail address")
