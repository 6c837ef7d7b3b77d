"""An open watch stream read line by line from the raw urllib3 response, so that another thread can
end it at once (`close()`), and a server-side `ERROR` event surfaces as the typed error (`Gone` for
410) the informer acts on."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import urllib3

from tfcontroller.kube.errors import ApiError, error_from_watch_status


class WatchStream:
    """An open watch: iterate for `(type, object)`; `close()` from any thread ends the iteration.

    An `ERROR` event is raised as the typed error (`Gone` for 410) instead of being yielded.
    """

    def __init__(self, response: urllib3.BaseHTTPResponse) -> None:
        self._resp = response
        self._closed = False

    def close(self) -> None:
        self._closed = True
        shutdown = getattr(self._resp, "shutdown", None)
        try:
            if shutdown is not None:
                shutdown()  # unblocks a read in progress in another thread (urllib3 >= 2.3)
            self._resp.release_conn()
        except Exception:  # noqa: BLE001 - closing a half-dead socket may fail in several ways
            pass

    def _chunks(self) -> Iterator[bytes]:
        read1 = getattr(self._resp, "read1", None)
        if read1 is not None:
            while not self._closed:
                data = read1(65536)
                if not data:
                    return
                yield data
        else:
            yield from self._resp.stream(None)

    def __iter__(self) -> Iterator[tuple[str, dict[str, Any]]]:
        buf = b""
        try:
            for chunk in self._chunks():
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if line.strip():
                        yield self._event(line)
            if buf.strip() and not self._closed:
                yield self._event(buf)
        except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
            if self._closed:
                return
            raise ApiError(0, "WatchInterrupted", f"watch stream broke: {type(exc).__name__}") from None
        finally:
            self.close()

    @staticmethod
    def _event(line: bytes) -> tuple[str, dict[str, Any]]:
        ev = json.loads(line)
        etype, obj = ev.get("type", ""), ev.get("object") or {}
        if etype == "ERROR":
            raise error_from_watch_status(obj)
        return etype, obj

