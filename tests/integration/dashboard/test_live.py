"""Live pages over real HTTP: the server-sent-events stream of a page says `changed` within 2 s of a
change to what the page shows, sends heartbeats, stops its watches when the viewer leaves, and is
refused (403) for a page the viewer may not read — it watches as the viewer. A stream opened from the
page's live URL starts from what the page showed: a change between the render and the stream (or a
start version the server has compacted away, or none at all) is announced at once; no change, nothing
but heartbeats."""

from __future__ import annotations

import datetime as dt
import html
import re
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
from tfcontroller.kube.resources import EVENTS, TERRAFORMS

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

    def lines_for(self, seconds: float) -> list[str]:
        """Every line read until `seconds` have passed (a line arrives at least every heartbeat)."""
        end = time.monotonic() + seconds
        lines = []
        for line in self._lines:
            lines.append(line)
            if time.monotonic() > end:
                break
        return lines


LIVE_URL = re.compile(r'data-live-url="([^"]+)"')


def live_url_of(browser: requests.Session, dashboard: Dashboard, path: str) -> str:
    """Render the page as a browser does and return its live URL (`body[data-live-url]`), which carries the
    resourceVersions the render read."""
    page = browser.get(f"{dashboard.url}{path}", timeout=30)
    assert page.status_code == 200, page.text[:500]
    found = LIVE_URL.search(page.text)
    assert found, "the page has no live URL"
    return html.unescape(found.group(1))


@contextmanager
def open_stream(browser: requests.Session, dashboard: Dashboard, url: str) -> Iterator[Stream]:
    """The SSE stream at `url` (a page's live URL), once the server said it is connected."""
    response = browser.get(f"{dashboard.url}{url}", stream=True, timeout=(10, 20))
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/event-stream")
    stream = Stream(response)
    try:
        stream.next_matching(": connected", 10)
        yield stream
    finally:
        response.close()


@contextmanager
def live(browser: requests.Session, dashboard: Dashboard, path: str) -> Iterator[Stream]:
    """The live stream of the page at `path`, rendered just before."""
    with open_stream(browser, dashboard, live_url_of(browser, dashboard, path)) as stream:
        yield stream


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


def _heartbeating(kube: KubeClient) -> Dashboard:
    return serve(DashboardSettings(mode=LOCAL, client=kube, secret_key=b"k" * 32, login_token=LOCAL_TOKEN,
                                   live_heartbeat=0.5))


def _event(kube: KubeClient, namespace: str, about: str, n: int) -> None:
    kube.create(EVENTS, {"apiVersion": "v1", "kind": "Event", "metadata": {"name": f"{about}.{n}", "namespace": namespace},
                         "involvedObject": {"apiVersion": "tfcontroller.io/v1alpha1", "kind": "Terraform",
                                            "name": about, "namespace": namespace},
                         "type": "Normal", "reason": "PlanSucceeded", "message": f"event {n}",
                         "lastTimestamp": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")})


def test_a_change_between_the_render_and_the_stream_is_announced(dash_kube: KubeClient) -> None:
    """The stream starts from the versions the page showed: the object itself (GET), its Events (a LIST)
    and the kinds of the overview and the graph (LISTs, one per kind), each changed after the render and
    before the stream opens, is announced as soon as the stream is open."""
    terraform(dash_kube, "team-a", "net")
    dashboard = _heartbeating(dash_kube)
    try:
        browser = dashboard.login()
        changes: list[tuple[str, Callable[[int], None]]] = [
            ("/terraform/team-a/net", lambda n: dash_kube.patch(TERRAFORMS, "net", {"metadata": {"labels": {"n": str(n)}}},
                                                                "team-a")),
            ("/terraform/team-a/net", lambda n: _event(dash_kube, "team-a", "net", n)),
            ("/?namespace=team-a", lambda n: dash_kube.patch(TERRAFORMS, "net", {"metadata": {"labels": {"n": str(n)}}},
                                                             "team-a")),
            ("/", lambda n: terraform(dash_kube, "team-b", f"new-{n}") and None),
            ("/graph", lambda n: dash_kube.delete(TERRAFORMS, f"new-{n - 1}", "team-b") and None),
        ]
        for n, (path, change) in enumerate(changes):
            url = live_url_of(browser, dashboard, path)
            assert "since=" in url, url
            change(n)
            with open_stream(browser, dashboard, url) as stream:
                connected = time.monotonic()
                # announced before the first heartbeat's worth of waiting is over, not at a later change
                assert stream.next_matching("event: changed", 5) - connected < 2.0, path
    finally:
        dashboard.server.stop()


def test_without_a_change_the_stream_sends_only_heartbeats(dash_kube: KubeClient) -> None:
    terraform(dash_kube, "team-a", "net")
    _event(dash_kube, "team-a", "net", 0)
    dashboard = _heartbeating(dash_kube)
    try:
        browser = dashboard.login()
        for path in ("/terraform/team-a/net", "/", "/graph?namespace=team-a"):
            with open_stream(browser, dashboard, live_url_of(browser, dashboard, path)) as stream:
                lines = stream.lines_for(2.5)
                assert ": heartbeat" in lines and "event: changed" not in lines, (path, lines)
    finally:
        dashboard.server.stop()


def test_a_start_the_server_no_longer_has_or_none_at_all_is_announced(dash_kube: KubeClient,
                                                                      dash_cluster: DevCluster) -> None:
    """410 Gone for the page's versions (compacted) or a live URL without them: what changed since the
    render is unknown, so the page is told to fetch itself again at once."""
    terraform(dash_kube, "team-a", "net")
    dashboard = _heartbeating(dash_kube)
    try:
        browser = dashboard.login()
        url = live_url_of(browser, dashboard, "/terraform/team-a/net")
        terraform(dash_kube, "team-a", "other")  # the log moves on past the page's versions...
        dash_cluster.compact()  # ...and forgets them
        for stale in (url, "/live?path=/terraform/team-a/net", url.replace("since=", "ignored=")):
            with open_stream(browser, dashboard, stale) as stream:
                connected = time.monotonic()
                assert stream.next_matching("event: changed", 5) - connected < 2.0, stale
    finally:
        dashboard.server.stop()


def test_a_fragment_names_the_live_url_of_what_it_shows(dash_kube: KubeClient) -> None:
    """live.js swaps fragments in and reopens a broken stream from the URL the last fragment named, so that
    the stream then starts from what the page shows now: its versions are the fragment's, not the first
    render's."""
    terraform(dash_kube, "team-a", "net")
    dashboard = _heartbeating(dash_kube)
    try:
        browser = dashboard.login()
        first = live_url_of(browser, dashboard, "/terraform/team-a/net")
        dash_kube.patch(TERRAFORMS, "net", {"metadata": {"labels": {"n": "1"}}}, "team-a")
        fragment = browser.get(f"{dashboard.url}/terraform/team-a/net", headers={"X-Fragment": "1"}, timeout=30)
        url = fragment.headers["X-Live-URL"]
        assert "since=" in url and url != first
        with open_stream(browser, dashboard, url) as stream:  # the change is in the fragment: nothing to say
            assert "event: changed" not in stream.lines_for(1.5)
            dash_kube.patch(TERRAFORMS, "net", {"metadata": {"labels": {"n": "2"}}}, "team-a")
            stream.next_matching("event: changed", 5)
    finally:
        dashboard.server.stop()


def test_live_streams_beyond_the_viewers_bound_are_refused_and_a_closed_one_frees_its_slot(
        dash_kube: KubeClient) -> None:
    """Each open stream holds a request thread: past the bound a stream answers 503 (the page still works),
    and a stream the viewer closed gives its slot back."""
    terraform(dash_kube, "team-a", "net")
    dashboard = serve(DashboardSettings(mode=LOCAL, client=dash_kube, secret_key=b"k" * 32, login_token=LOCAL_TOKEN,
                                        live_streams_per_viewer=2))
    try:
        browser = dashboard.login()
        url = live_url_of(browser, dashboard, "/terraform/team-a/net")
        with open_stream(browser, dashboard, url), open_stream(browser, dashboard, url):
            refused = browser.get(f"{dashboard.url}{url}", timeout=30)
            assert refused.status_code == 503 and refused.headers.get("Retry-After") == "30"
            assert browser.get(f"{dashboard.url}/terraform/team-a/net", timeout=30).status_code == 200
        wait_for(lambda: state_of_streams(dashboard) == 0, 15, "the closed streams to give their slots back")
        with open_stream(browser, dashboard, url) as stream:
            assert stream is not None
    finally:
        dashboard.server.stop()


def state_of_streams(dashboard: Dashboard) -> int:
    from tfcontroller.dashboard.app import state_of

    streams = state_of(dashboard.server.app).streams
    assert streams is not None
    return streams.open()
