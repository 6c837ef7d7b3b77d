"""An SMTP server on loopback that saves every message as an .eml file and reports its subject.

The demo points the controller's drift reports at it, so a person can open the mail it would have sent.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


class _SaveHandler:
    def __init__(self, outdir: Path, on_mail: Callable[[str, Path], None] | None) -> None:
        self.outdir = outdir
        self.on_mail = on_mail
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd hook
        raw = bytes(envelope.original_content or envelope.content)
        msg = BytesParser(policy=policy.default).parsebytes(raw)
        with self.lock:
            self.count += 1
            path = self.outdir / f"{time.strftime('%Y%m%dT%H%M%S')}-{self.count:03d}.eml"
        path.write_bytes(raw)
        if self.on_mail:
            self.on_mail(str(msg.get("Subject", "")), path)
        return "250 Message accepted for delivery"


class SMTPSink:
    def __init__(self, outdir: Path, host: str = "127.0.0.1", port: int = 0,
                 on_mail: Callable[[str, Path], None] | None = None) -> None:
        self.outdir = Path(outdir)
        self.outdir.mkdir(parents=True, exist_ok=True)
        self.host = host
        self._handler = _SaveHandler(self.outdir, on_mail)
        if port == 0:
            import socket

            with socket.socket() as s:
                s.bind((host, 0))
                port = s.getsockname()[1]
        self.port = port
        self._controller = Controller(self._handler, hostname=host, port=port)

    def start(self) -> SMTPSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def mails(self) -> list[Path]:
        return sorted(self.outdir.glob("*.eml"))
