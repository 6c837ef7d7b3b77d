"""The dashboard server's pure rules: which listen addresses local mode accepts (loopback only: it lends
your identity), when cookies are Secure, the cookie's attributes, where a login may send the browser
back to (never another site), the one-time token, the session key read from its Secret, the watch of one
object, the start versions a live URL carries, and the SSE body (debounce bounded to a second, heartbeats, the feed closed however it ends)."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator

import pytest

from tfcontroller.dashboard.auth import OneTimeToken, SessionUser, safe_next
from tfcontroller.dashboard.live import (
    MAX_DELAY,
    event_stream,
    name_selector,
    parse_since,
    since_params,
    target_key,
)
from tfcontroller.dashboard.pages import WatchTarget
from tfcontroller.dashboard.session import SESSION_KEY_FIELD, SessionKeyError, cookie_config, key_from_secret
from tfcontroller.dashboard.settings import (
    IN_CLUSTER,
    LOCAL,
    SettingsError,
    check_listen_address,
    host_name,
    is_https,
    is_loopback,
    listen_url,
)
from tfcontroller.kube.resources import EVENTS, TERRAFORMS


@pytest.mark.parametrize("address", ["127.0.0.1", "127.0.0.53", "::1", "[::1]", "localhost"])
def test_local_mode_listens_on_loopback(address: str) -> None:
    assert is_loopback(address)
    check_listen_address(LOCAL, address)


@pytest.mark.parametrize("address", ["0.0.0.0", "::", "192.168.1.10", "10.0.0.1", "example.com", ""])
def test_local_mode_refuses_any_other_address_and_says_why(address: str) -> None:
    with pytest.raises(SettingsError, match="loopback only"):
        check_listen_address(LOCAL, address)
    check_listen_address(IN_CLUSTER, address)  # in-cluster viewers log in as themselves


@pytest.mark.parametrize(("url", "secure"), [("https://dash.example.com/", True), ("HTTPS://x", True),
                                             ("http://dash.example.com/", False), ("", False)])
def test_cookies_are_secure_when_viewers_come_over_https(url: str, secure: bool) -> None:
    assert is_https(url) is secure


@pytest.mark.parametrize(("host", "name", "loopback"), [
    ("127.0.0.1:9090", "127.0.0.1", True), ("localhost", "localhost", True), ("[::1]:80", "::1", True),
    ("::1", "::1", True), ("evil.example:9090", "evil.example", False), ("127.0.0.1.evil.example", "127.0.0.1.evil.example", False),
])
def test_the_host_a_request_names(host: str, name: str, loopback: bool) -> None:
    assert host_name(host) == name
    assert is_loopback(name) is loopback


def test_listen_url() -> None:
    assert listen_url("127.0.0.1", 9090) == "http://127.0.0.1:9090/"
    assert listen_url("::1", 80) == "http://[::1]:80/"


def test_the_cookie_is_httponly_samesite_strict_and_expires() -> None:
    config = cookie_config(secure=True, lifetime_seconds=3600)
    assert config["SESSION_COOKIE_HTTPONLY"] is True
    assert config["SESSION_COOKIE_SAMESITE"] == "Strict"
    assert config["SESSION_COOKIE_SECURE"] is True
    assert config["PERMANENT_SESSION_LIFETIME"] == 3600
    assert cookie_config(secure=False, lifetime_seconds=1)["SESSION_COOKIE_SECURE"] is False


@pytest.mark.parametrize(("value", "want"), [
    ("/terraform/a/b?x=1", "/terraform/a/b?x=1"), ("/", "/"), (None, "/"), ("", "/"),
    ("https://evil.example/", "/"), ("//evil.example/x", "/"), ("/\\evil.example", "/"), ("javascript:alert(1)", "/"),
    # browsers drop tabs and newlines from URLs and read a backslash as a slash: each of these is `//evil`
    ("/\t/evil.example", "/"), ("/\n/evil.example", "/"), ("/\r/evil.example", "/"), ("/ /evil.example", "/"),
    ("/\x00/evil.example", "/"), ("/\x7f/evil.example", "/"), ("/\u2028/evil.example", "/"),
    # what is kept is encoded where a URL would not keep it literally
    ("/graph?namespace=a\"b", "/graph?namespace=a%22b"), ("/x<y>", "/x%3Cy%3E"),
])
def test_after_login_the_browser_goes_back_only_to_this_site(value: str | None, want: str) -> None:
    assert safe_next(value) == want


def test_the_local_token_is_spent_once_and_only_the_right_one() -> None:
    token = OneTimeToken("s3cret")
    assert not token.spend("wrong") and not token.spend("") and not token.spend("s3cre")
    assert token.spend("s3cret")
    assert not token.spend("s3cret")
    assert not OneTimeToken(None).spend("")


def test_the_local_token_is_spent_once_under_concurrency() -> None:
    token = OneTimeToken("t")
    wins: list[bool] = []
    threads = [threading.Thread(target=lambda: wins.append(token.spend("t"))) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wins.count(True) == 1


def test_a_session_keeps_who_not_a_token() -> None:
    user = SessionUser("alice", "u-1", ("team-a",))
    assert set(user.to_session()) == {"username", "uid", "groups"}
    assert SessionUser.of(user.to_session()) == user
    assert SessionUser.of({"username": ""}) is None and SessionUser.of("alice") is None


def test_the_session_key_comes_from_its_secret_or_the_error_says_how_to_fix_it() -> None:
    key = b"k" * 32
    assert key_from_secret({"data": {SESSION_KEY_FIELD: base64.b64encode(key).decode()}}, "ns/s") == key
    for broken in ({}, {"data": {}}, {"data": {SESSION_KEY_FIELD: base64.b64encode(b"short").decode()}}):
        with pytest.raises(SessionKeyError, match="delete it"):
            key_from_secret(broken, "ns/s")


def test_one_object_is_watched_by_its_name() -> None:
    assert name_selector("net") == "metadata.name=net"
    assert name_selector(None) is None and name_selector("") is None


class FakeFeed:
    """The calls event_stream makes of a ChangeFeed, driven by a script of `wait` answers."""

    def __init__(self, answers: list[bool]) -> None:
        self.answers = answers
        self.closed = False

    def wait_started(self, timeout: float) -> bool:
        return True

    def wait(self, timeout: float) -> bool:
        return self.answers.pop(0) if self.answers else False

    def clear(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 0.1
        return self.now


def _take(stream: Iterator[bytes], n: int) -> list[bytes]:
    return [next(stream) for _ in range(n)]


def test_a_burst_is_one_event_sent_within_the_bound() -> None:
    feed = FakeFeed([True] + [True] * 50)  # changes keep coming
    clock = Clock()
    stream = event_stream(feed, debounce=0.3, heartbeat=15, gone=lambda: False, clock=clock)  # type: ignore[arg-type]
    first, changed = _take(stream, 2)
    assert first.startswith(b"retry:") and changed == b"event: changed\ndata: {}\n\n"
    assert clock.now <= MAX_DELAY + 0.5
    stream.close()
    assert feed.closed


def test_heartbeats_while_quiet_and_the_feed_is_closed_when_the_viewer_leaves() -> None:
    feed = FakeFeed([])
    left = threading.Event()
    stream = event_stream(feed, debounce=0.3, heartbeat=0.5, gone=left.is_set, clock=Clock())  # type: ignore[arg-type]
    assert _take(stream, 2)[1] == b": heartbeat\n\n"
    left.set()
    assert list(stream) == []
    assert feed.closed


def test_a_live_url_carries_each_targets_start_version_and_reads_it_back() -> None:
    """Per target the version its page read; a target the page could not read has none (it is listed when
    the stream opens, and announced); malformed values are ignored, the first of a key wins."""
    targets = [WatchTarget(TERRAFORMS, "team-a", "net", "41"), WatchTarget(EVENTS, "team-a", None, "42"),
               WatchTarget(TERRAFORMS, None, None, "")]
    params = since_params(targets)
    assert params == ["terraforms.tfcontroller.io/v1alpha1/team-a/net=41", "events.v1/team-a/=42"]
    assert parse_since([*params, "nonsense", "=7", "events.v1/team-a/=", "events.v1/team-a/=99"]) == {
        target_key(TERRAFORMS, "team-a", "net"): "41", target_key(EVENTS, "team-a", None): "42"}
    assert target_key(TERRAFORMS, None, None) != target_key(TERRAFORMS, "", "x")
    assert parse_since(["k=a=b"]) == {"k": "a=b"}  # a version is opaque: only the first "=" separates


def test_a_session_ends_with_its_login_token_when_that_is_sooner() -> None:
    from tfcontroller.dashboard.auth import session_end

    assert session_end(1000.0, 3600.0, None) == 4600
    assert session_end(1000.0, 3600.0, 2000.0) == 2000
    assert session_end(1000.0, 3600.0, 9000.0) == 4600


def test_the_expiry_of_a_jwt_login_token_is_read_and_other_tokens_have_none() -> None:
    import jwt

    from tfcontroller.dashboard.auth import token_expiry

    assert token_expiry(jwt.encode({"sub": "a", "exp": 1234567890}, "k" * 32, algorithm="HS256")) == 1234567890.0
    assert token_expiry(jwt.encode({"sub": "a"}, "k" * 32, algorithm="HS256")) is None
    assert token_expiry("not-a-jwt") is None
    assert token_expiry("") is None


def test_live_streams_are_bounded_in_all_and_per_viewer_and_slots_come_back() -> None:
    from tfcontroller.cli.dashboard_cmd import live_stream_bound
    from tfcontroller.dashboard.live import StreamSlots, released

    slots = StreamSlots(total=3, per_viewer=2)
    assert slots.acquire("alice") and slots.acquire("alice")
    assert not slots.acquire("alice")  # her bound
    assert slots.acquire("bob")
    assert not slots.acquire("carol")  # the server's bound
    body = released(iter([b"x"]), slots, "bob")
    assert list(body) == [b"x"] and slots.open() == 2  # bob's slot is back once his stream ended
    assert slots.acquire("carol") and slots.open() == 3

    def never_started() -> Iterator[bytes]:
        yield b"x"

    unread = released(never_started(), slots, "carol")
    unread.close()  # a stream closed before its first byte (the client left at once) gives its slot back too
    unread.close()  # once
    assert slots.open() == 2
    assert live_stream_bound(32) == 24 and live_stream_bound(2) == 1 and live_stream_bound(4) == 3
