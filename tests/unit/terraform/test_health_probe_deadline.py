"""A health probe has one absolute deadline, whatever the server's pace (review s19, finding 2), against real
loopback servers that answer too slowly in each phase: a status line dripped a byte at a time, headers
dripped after a complete status line, an endless series of complete `100 Continue` heads, a TLS server
that never finishes its handshake. For each, `run_checks` returns within its budget, every probe thread
has ended shortly after (waited on, not slept), and a process that ran the checks exits at once (daemon
threads, no pool joined at exit). Heads longer than MAX_HEADER_BYTES and answers that are no HTTP fail
with a reason saying so, without waiting for the timeout."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.polling import wait_for
from tfcontroller.api.healthchecks import HealthCheck
from tfcontroller.terraform.health import (
    FAILED,
    MAX_HEADER_BYTES,
    BadResponse,
    ProbePolicy,
    Sockets,
    get_status,
    parse_status_line,
    probe_http,
    run_checks,
)

Behaviour = Callable[[socket.socket, threading.Event], None]


def _drip_status_line(conn: socket.socket, done: threading.Event) -> None:
    conn.recv(4096)
    for byte in b"HTTP/1.1 200 OK" * 1000:
        if done.wait(0.3):
            return
        conn.sendall(bytes([byte]))


def _drip_headers(conn: socket.socket, done: threading.Event) -> None:
    conn.recv(4096)
    conn.sendall(b"HTTP/1.1 200 OK\r\n")
    while not done.wait(0.3):
        conn.sendall(b"X")


def _endless_continue(conn: socket.socket, done: threading.Event) -> None:
    conn.recv(4096)
    while not done.wait(0.3):
        conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")


def _silent(conn: socket.socket, done: threading.Event) -> None:
    """Accepts and says nothing: a TLS client waits for the server's hello for ever."""
    done.wait(120)


def _huge_head(conn: socket.socket, done: threading.Event) -> None:
    conn.recv(4096)
    conn.sendall(b"HTTP/1.1 200 OK\r\n")
    line = b"X-Padding: " + b"a" * 1000 + b"\r\n"
    while not done.is_set():
        conn.sendall(line)


def _head_then_close(conn: socket.socket, done: threading.Event) -> None:
    conn.recv(4096)
    conn.sendall(b"HTTP/1.0 204 No Content\r\nServer: old\r\n")  # no blank line: the close ends the head


def _close_at_once(conn: socket.socket, done: threading.Event) -> None:
    conn.recv(4096)


def _not_http(conn: socket.socket, done: threading.Event) -> None:
    conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")
    done.wait(120)


@pytest.fixture
def serve() -> Iterator[Callable[[Behaviour], int]]:
    """`serve(behaviour)`: a loopback listener running `behaviour` on each connection; its port."""
    done = threading.Event()
    listeners: list[socket.socket] = []

    def start(behaviour: Behaviour) -> int:
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(16)
        listeners.append(srv)

        def accept() -> None:
            while not done.is_set():
                try:
                    conn, _ = srv.accept()
                except OSError:
                    return
                threading.Thread(target=_run, args=(behaviour, conn), daemon=True).start()

        def _run(behaviour: Behaviour, conn: socket.socket) -> None:
            with conn:
                try:
                    behaviour(conn, done)
                except OSError:
                    pass

        threading.Thread(target=accept, daemon=True).start()
        return int(srv.getsockname()[1])

    yield start
    done.set()
    for srv in listeners:
        srv.close()


def _probe_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("health-check")]


SLOW = [pytest.param(_drip_status_line, "http", id="status-line-dripped"),
        pytest.param(_drip_headers, "http", id="headers-dripped"),
        pytest.param(_endless_continue, "http", id="endless-100-continue"),
        pytest.param(_silent, "https", id="tls-handshake-never-ends")]


@pytest.mark.parametrize(("behaviour", "scheme"), SLOW)
def test_a_slow_server_cannot_hold_a_probe_past_its_timeout(behaviour: Behaviour, scheme: str,
                                                            serve: Callable[[Behaviour], int]) -> None:
    port = serve(behaviour)
    started = time.monotonic()
    assert probe_http(f"{scheme}://127.0.0.1:{port}/", None, 1.0, ()) == "timed out"
    assert time.monotonic() - started < 10.0  # 1s, generous for a busy host: not the server's pace


@pytest.mark.parametrize(("behaviour", "scheme"), SLOW)
def test_run_checks_returns_within_the_budget_and_its_threads_end(behaviour: Behaviour, scheme: str,
                                                                  serve: Callable[[Behaviour], int]) -> None:
    wait_for(lambda: not _probe_threads(), what="no probe thread of an earlier test")
    port = serve(behaviour)
    checks = [HealthCheck(f"c{i}", "http", f"{scheme}://127.0.0.1:{port}/{i}", None, 60.0, "spec.healthChecks[0].url")
              for i in range(3)]
    started = time.monotonic()
    results = run_checks(checks, {}, policy=ProbePolicy(deny=(), budget=2.0))
    assert time.monotonic() - started < 12.0  # 2s of budget (and its slack), generous for a busy host
    assert all(r.outcome == FAILED for r in results), results
    assert {r.detail for r in results} <= {"timed out"} | {r.detail for r in results if "not run to the end" in r.detail}
    wait_for(lambda: not _probe_threads(), timeout=10.0, what="every probe thread ended after the budget")


def test_a_head_longer_than_the_cap_fails_at_once(serve: Callable[[Behaviour], int]) -> None:
    port = serve(_huge_head)
    started = time.monotonic()
    why = probe_http(f"http://127.0.0.1:{port}/", None, 60.0, ())
    assert why == f"response head longer than {MAX_HEADER_BYTES // 1024} KiB"
    assert time.monotonic() - started < 30.0  # the cap, not the 60s timeout


def test_an_answer_that_is_no_http_fails_at_once(serve: Callable[[Behaviour], int]) -> None:
    port = serve(_not_http)
    assert probe_http(f"http://127.0.0.1:{port}/", None, 60.0, ()) == "not an HTTP response: 'SSH-2.0-OpenSSH_9.6'"


def test_a_head_ended_by_the_close_counts_and_no_head_at_all_fails(serve: Callable[[Behaviour], int]) -> None:
    assert probe_http(f"http://127.0.0.1:{serve(_head_then_close)}/", 204, 60.0, ()) == ""
    assert probe_http(f"http://127.0.0.1:{serve(_close_at_once)}/", None, 60.0, ()) == \
        "the server closed the connection without a complete HTTP response head"


def test_the_controllers_stop_ends_run_checks_and_its_probes_at_once(serve: Callable[[Behaviour], int]) -> None:
    wait_for(lambda: not _probe_threads(), what="no probe thread of an earlier test")
    port = serve(_drip_headers)
    stop = threading.Event()
    checks = [HealthCheck("web", "http", f"http://127.0.0.1:{port}/", None, 60.0, "spec.healthChecks[0].url")]
    threading.Thread(target=lambda: (wait_for(_probe_threads, what="a probe running"), stop.set()), daemon=True).start()
    started = time.monotonic()
    results = run_checks(checks, {}, stop, ProbePolicy(deny=(), budget=60.0))
    assert time.monotonic() - started < 30.0  # not the 60s budget
    assert results[0].outcome == FAILED
    wait_for(lambda: not _probe_threads(), timeout=10.0, what="the probe thread ended after the stop")


@pytest.mark.parametrize(("head", "status"), [(b"HTTP/1.1 204 No Content\r\n", 204), (b"HTTP/1.0 503\r\n", 503),
                                              (b"HTTP/1.1 302 Found\n", 302), (b"HTTP/1.1 200 \r\n", 200)])
def test_status_lines(head: bytes, status: int) -> None:
    assert parse_status_line(head) == status


@pytest.mark.parametrize("head", [b"HTTP/2 200\r\n", b"http/1.1 200 OK\r\n", b"HTTP/1.1 20 OK\r\n",
                                  b"HTTP/1.1 099 x\r\n", b"<html>\r\n", b"HTTP/1.1 200OK\r\n"])
def test_what_is_no_status_line(head: bytes) -> None:
    with pytest.raises(BadResponse, match="^not an HTTP response: "):
        parse_status_line(head)


SCRIPT = """
import socket, sys, threading, time
from tfcontroller.api.healthchecks import HealthCheck
from tfcontroller.terraform.health import ProbePolicy, run_checks

srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(8)
def drip(c):
    try:
        c.recv(1000); c.sendall(b"HTTP/1.1 200 OK\\r\\n")
        while True:
            c.sendall(b"X"); time.sleep(0.3)
    except OSError:
        pass
def serve():
    while True:
        threading.Thread(target=drip, args=(srv.accept()[0],), daemon=True).start()
threading.Thread(target=serve, daemon=True).start()
url = f"http://127.0.0.1:{srv.getsockname()[1]}/"
checks = [HealthCheck(f"c{i}", "http", url, None, 60.0, "f") for i in range(4)]
print(run_checks(checks, {}, policy=ProbePolicy(deny=(), budget=2.0))[0].outcome, flush=True)
"""


def test_a_process_that_ran_checks_against_a_dripping_server_exits_promptly(tmp_path: Path) -> None:
    script = tmp_path / "drip.py"
    script.write_text(textwrap.dedent(SCRIPT))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    started = time.monotonic()
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == FAILED
    assert time.monotonic() - started < 30.0  # 2s of budget and an interpreter start, not the server's pace



def test_a_read_ended_by_our_own_shut_down_is_no_answer(serve: Callable[[Behaviour], int]) -> None:
    """A status line then a dripped header: the budget's end (or the controller's stop) shuts the socket
    down, and the end of the connection that follows must not count as the server's complete head (a 200
    that would pass the check) — found by a CI run where a stopped check passed."""
    sent = threading.Event()

    def status_then_drip(conn: socket.socket, done: threading.Event) -> None:
        conn.recv(4096)
        conn.sendall(b"HTTP/1.1 200 OK\r\n")
        for n in range(400):
            if done.wait(0.05):
                return
            conn.sendall(b"X")
            if n == 3:
                sent.set()

    port = serve(status_then_drip)
    sockets = Sockets()
    got: list[object] = []

    def probe() -> None:
        try:
            got.append(get_status(f"http://127.0.0.1:{port}/", [(socket.AF_INET, ("127.0.0.1", port))], 60.0,
                                  sockets))
        except Exception as exc:  # noqa: BLE001 - what the probe raised is the result
            got.append(exc)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    assert sent.wait(30), "the server sent its status line and a few header bytes"
    sockets.shut_all()
    thread.join(10)
    assert len(got) == 1 and not isinstance(got[0], int), f"a shut-down read answered {got}"
