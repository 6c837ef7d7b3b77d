"""Serving the app with waitress, started and stopped from Python (the CLI, tests, the demo).

Why these waitress settings: waitress 3 writes each piece of a streamed answer at once (its `send_bytes`
is 1 and deprecated; older releases held 18 000 bytes back, so pyproject asks for waitress>=3.0 and
tests/integration/dashboard/test_live.py times the events); `channel_request_lookahead=1` lets a live stream see that its viewer left (`waitress.client_disconnected`);
`threads` bounds how many requests run at once, live streams included (one per open page).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from flask import Flask
from waitress.channel import HTTPChannel
from waitress.server import create_server

from tfcontroller.dashboard.app import state_of
from tfcontroller.dashboard.settings import DEFAULT_THREADS

log = logging.getLogger(__name__)


class DashboardServer:
    """A waitress server for `app` on `address:port` (0: a free port), run in a thread until `stop()`."""

    def __init__(self, app: Flask, address: str, port: int, *, threads: int = DEFAULT_THREADS) -> None:
        self.app = app
        self._server: Any = create_server(app, host=address, port=port, threads=threads,
                                          channel_request_lookahead=1, ident="tfcontroller-dashboard",
                                          clear_untrusted_proxy_headers=True)
        self._thread = threading.Thread(target=self._run, name="dashboard-http", daemon=True)
        self._stopped = threading.Event()

    @property
    def port(self) -> int:
        return int(self._server.effective_port)

    @property
    def host(self) -> str:
        return str(self._server.effective_host)

    def start(self) -> DashboardServer:
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            self._server.run()
        except (OSError, ValueError):  # the loop's sockets closed under it by stop()
            if not self._stopped.is_set():
                raise

    def stop(self, timeout: float = 5.0) -> None:
        """End live streams, close every connection and the listener, and wait for the threads."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        state_of(self.app).stopping.set()
        server = self._server
        server.task_dispatcher.shutdown(cancel_pending=True, timeout=timeout)
        while server._map:  # waitress has no public stop: close the listener, the trigger and every channel
            for dispatcher in list(server._map.values()):
                if isinstance(dispatcher, HTTPChannel):
                    dispatcher.handle_close()  # its own cleanup (buffers, pending requests)
                else:
                    dispatcher.close()  # the listener and the trigger
        self._thread.join(timeout)

    def __enter__(self) -> DashboardServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
