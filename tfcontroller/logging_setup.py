"""Logging configuration: key=value text or JSON lines, one logger per module.

Callers pass the object's namespace/name as `extra={"obj": "ns/name"}` so every line names it.
"""

from __future__ import annotations

import json
import logging
import sys

from tfcontroller.api.times import format_timestamp


class _KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ts = format_timestamp(record.created)
        parts = [f"ts={ts}", f"level={record.levelname.lower()}", f"logger={record.name}"]
        obj = getattr(record, "obj", None)
        if obj:
            parts.append(f"object={obj}")
        parts.append(f"msg={json.dumps(record.getMessage())}")
        if record.exc_info:
            parts.append(f"error={json.dumps(self.formatException(record.exc_info))}")
        return " ".join(parts)


class _JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "ts": format_timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        obj = getattr(record, "obj", None)
        if obj:
            doc["object"] = obj
        if record.exc_info:
            doc["error"] = self.formatException(record.exc_info)
        return json.dumps(doc)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is at emit time, not at configuration time: a command run
    in-process (tests, the demo) must not leave the root logger bound to a stream closed since."""

    @property
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, value: object) -> None:
        return None


def configure_logging(level: str = "info", fmt: str = "text") -> None:
    handler = _StderrHandler()
    handler.setFormatter(_JSONFormatter() if fmt == "json" else _KeyValueFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("urllib3", "kubernetes", "git"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
