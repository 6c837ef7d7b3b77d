"""Live pages over real HTTP: the server-sent-events stream of a page says `changed` within 2 s of a
change to what the page shows, sends heartbeats, stops its watches when the viewer leaves, and is
refused (403) for a page the viewer may not read — it watches as the viewer."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
import requests

from tests.fixtures.dashboard import LOCAL_TOKEN, Dashboard, serve, service_account_token, terraform
from tests.support.polling import wait_for
from tfcontroller.dashboard.settings import LOCAL, DashboardSettings
from tfcontroller.dev.cluster import DevCluster
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import TERRAFORMS

READ = {"apiGroups": ["tfcontroller.io"], "resources": ["terraforms"], "verbs": ["get", "list", "watch"]}


class Stream:
    """An open SSE response, read line by line in the test's thread (a reader thread would keep the socket
    open after `close()` until the next line arrives); a line is timed when read, so a measured delay is
    never shorter than the real one."""

    def __init__(self, response: requests.Response) -> None:
        self.response = response
        self._lines = response.iter_lines(decode_unicode=True)

    def next_matching(self, wanted: str, timeout: float) -> float:
        """The time the first line equal to `wanted` was read (fails after `timeout`, or when the read
        timeout of the request passes without a line)."""
        end = time.monotonic() + timeout
        for line in self._lines:
            if line == wanted:
                return time.monotonic()
            assert time.monotonic() < end, f"no {wanted!r} line within {timeout}s"
        raise AssertionError(f"the stream ended before a {wanted!r} line")


@contextmanager
def live(browser: requests.Session, dashboard: Dashboard, path: str) -> Iterator[Stream]:
    response = browser.get(f"{dashboard.url}/live", params={"path": path}, stream=True, timeout=(10, 20))
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/event-stream")
    stream = Stream(response)
    try:
        stream.next_matching(": connected", 10)
        yield stream
    finally:
        response.close()


def _watch_threads() -> int:
    return sum(t.name.startswith("dashboard-watch-") for t in threading.enumerate())


def test_a_change_is_announced_within_two_seconds(local_dashboard: Dashboard, dash_kube: KubeClient) -> None:
    terraform(dash_kube, "team-a", "net")
    browser = local_dashboard.login()
    for n, path in enumerate(("/terraform/team-a/net", "/?namespace=team-a", "/")):
        with live(browser, local_dashboard, path) as stream:  # open: every change from now on is announced
            changed_at = time.monotonic()
            dash_kube.patch(TERRAFORMS, "net", {"metadata": {"labels": {"seen": str(n)}}}, "team-a")
            announced = stream.next_matching("event: changed", 10)
            assert announced - changed_at < 2.0, (path, announced - changed_at)


def test_a_burst_of_changes_is_announced_while_it_lasts(local_dashboard: Dashboard, dash_kube: KubeClient) -> None:
    """Debounced, yet never held back longer than a second past the first change of a burst."""
    terraform(dash_kube, "team-a", "net")
    browser = local_dashboard.login()
    with live(browser, local_dashboard, "/terraform/team-a/net") as stream:
        first = time.monotonic()
        stop = threading.Event()

        def churn() -> None:
            n = 0
            while not stop.is_set():
                n += 1
                dash_kube.patch(TERRAFORMS, "net", {"metadata": {"labels": {"n": str(n)}}}, "team-a")
                stop.wait(0.1)

        writer = threading.Thread(target=churn, daemon=True)
        writer.start()
        try:
            assert stream.next_matching("event: changed", 10) - first < 2.0
        finally:
            stop.set()
            writer.join(5)


def test_leaving_the_page_ends_its_watches(local_dashboard: Dashboard, dash_kube: KubeClient) -> None:
    terraform(dash_kube, "team-a", "net")
    browser = local_dashboard.login()
    baseline = _watch_threads()
    with live(browser, local_dashboard, "/terraform/team-a/net"):
        wait_for(lambda: _watch_threads() > baseline, 10, "the page's watches to start")
    wait_for(lambda: _watch_threads() == baseline, 15, "the watches to end after the viewer left")


def test_heartbeats_keep_the_stream_open(dash_kube: KubeClient) -> None:
    dashboard = serve(DashboardSettings(mode=LOCAL, client=dash_kube, secret_key=b"k" * 32, login_token=LOCAL_TOKEN,
                                        live_heartbeat=0.5))
    try:
        with live(dashboard.login(), dashboard, "/") as stream:
            stream.next_matching(": heartbeat", 10)
    finally:
        dashboard.server.stop()


def test_the_stream_of_a_page_the_viewer_may_not_read_is_refused(
        in_cluster_dashboard: Callable[..., Dashboard], dash_cluster: DevCluster, dash_kube: KubeClient) -> None:
    terraform(dash_kube, "team-b", "net")
    dashboard = in_cluster_dashboard()
    browser = dashboard.login_with_token(service_account_token(dash_cluster, dash_kube, "team-a", "viewer", [READ]))
    answer = browser.get(f"{dashboard.url}/live", params={"path": "/terraform/team-b/net"}, timeout=30)
    assert answer.status_code == 403
    assert browser.get(f"{dashboard.url}/live", params={"path": "/no/such/page"}, timeout=30).status_code == 404


def test_a_stream_ends_with_the_session_that_opened_it(dash_kube: KubeClient) -> None:
    dashboard = serve(DashboardSettings(mode=LOCAL, client=dash_kube, secret_key=b"k" * 32, login_token=LOCAL_TOKEN,
                                        session_lifetime=dt.timedelta(seconds=6)))
    try:
        browser = dashboard.login()
        with live(browser, dashboard, "/") as stream:
            with pytest.raises(AssertionError, match="ended"):
                stream.next_matching("event: changed", 15)  # none comes: the server ends the stream
        assert browser.get(f"{dashboard.url}/live", params={"path": "/"}, timeout=30).status_code == 401
    finally:
        dashboard.server.stop()
