"""The demo's ending and its re-run (issue 13, points 18 and 19), cheaply: the demo runs with an AWS
endpoint nothing answers on and is stopped once its controller is up, before Terraform would need AWS.

- Ctrl-C (SIGINT to the demo's process group) ends it with "stopped", exit 0, and nothing it started left
  running; under `make demo`, a Ctrl-C typed in the terminal (a pseudo-terminal here) ends make with 0 too,
  without make's `*** [Makefile:NN: demo] Interrupt`.
- The dashboard it starts (`tfcontroller dashboard`, local mode) answers the link it prints: the overview,
  logged in once by the link's one-time token; a second use of the link is refused. It stops with the rest.
- A second run over `.demo/checkout` keeps the user's repository: pushed commits are what the demo serves
  (and the cluster's GitRepository fetches), unpushed commits and local changes stay and are reported.
- The notification objects the demo creates (a signed webhook provider to its receiver, one rule) are
  accepted by the controller: both turn Ready=True (a run that starts over a fresh cluster each time).
"""

from __future__ import annotations

import fcntl
import os
import re
import subprocess
import termios
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.demo import Demo, demo_workdir, kill_leftovers, leftovers, unreachable_endpoint
from tests.support.paths import REPO_ROOT
from tests.support.polling import poll, wait_for
from tfcontroller.dev.demo import notifications
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import GITREPOSITORIES, NOTIFICATIONPROVIDERS, NOTIFICATIONRULES, Resource

UP = "controller started"
MAKE_VARIABLES = ("MAKELEVEL", "MAKEFLAGS", "MFLAGS", "MAKEOVERRIDES", "MAKE_TERMOUT", "MAKE_TERMERR")
ENV = {"GIT_CONFIG_GLOBAL": os.devnull}  # no identity of the machine's user: the demo's clone has its own


@pytest.fixture
def workdir() -> Iterator[Path]:
    path = demo_workdir()
    yield path
    kill_leftovers(path)
    subprocess.run(["rm", "-rf", str(path), f"{path}.log"], check=False)


def git(checkout: Path, *args: str) -> str:
    env = {**os.environ, **ENV}
    return subprocess.run(["git", "-C", str(checkout), *args], env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


def run_until_up(workdir: Path) -> Demo:
    demo = Demo(workdir, args=["--aws-endpoint", unreachable_endpoint()], env=ENV).start()
    try:
        demo.wait_for_output(UP, timeout=120)
    except BaseException:
        demo.cleanup()
        raise
    return demo


def dashboard_answers(demo: Demo) -> str:
    """The dashboard link the demo printed answers with the overview (the one-time token logs in and is
    then spent); returns the link."""
    demo.wait_for_output("Dashboard: ", timeout=60)
    found = re.search(r"Dashboard: (http://127\.0\.0\.1:\d+/\?token=\S+)", demo.output())
    assert found, demo.output()[-3000:]
    link = found.group(1)
    session = requests.Session()
    session.trust_env = False
    page = session.get(link, timeout=30)
    assert page.status_code == 200 and 'id="count-pending"' in page.text, page.text[:2000]
    assert 'id="viewer"' in page.text and "?token=" not in page.url  # logged in, redirected off the token
    assert requests.get(link, timeout=30).status_code == 401, "the login link works twice"
    return link


def ready(kube: KubeClient, resource: Resource, name: str) -> str:
    """The status of the Ready condition of `name` ("" while there is none), with its message on failure."""
    conditions = (kube.get(resource, name, "default").get("status") or {}).get("conditions") or []
    found: dict[str, Any] = next((c for c in conditions if c.get("type") == "Ready"), {})
    status = str(found.get("status") or "")
    return status if status != "False" else f"False: {found.get('reason')}: {found.get('message')}"


def stop(demo: Demo) -> str:
    try:
        code = demo.interrupt()
        out = demo.output()
        assert code == 0, out[-4000:]
        last = out.strip().splitlines()[-1]
        assert last.endswith("] stopped"), out[-2000:]
        assert "Traceback" not in out, out[-4000:]
        assert wait_for(lambda: not leftovers(demo.workdir), timeout=20, what="no process of the demo left",
                        interval=0.2) or True
        return " ".join(out.split())  # entries are wrapped to the terminal's width: compare words
    finally:
        if demo.proc is not None and demo.proc.poll() is None:
            demo.cleanup()


@pytest.mark.timeout(400)
def test_ctrl_c_stops_everything_and_a_rerun_keeps_the_users_repository(workdir: Path) -> None:
    demo = run_until_up(workdir)
    assert leftovers(workdir), "the demo's processes should be found while it runs (else the check proves nothing)"
    dashboard_answers(demo)
    first = stop(demo)
    checkout = workdir / "checkout"
    assert "fresh clone" in first

    # The user commits and deploys one change, commits another without pushing, and edits a file.
    readme = checkout / "apps/sample-app/base/configmap.yaml"
    readme.write_text(readme.read_text() + "# pushed by the user\n")
    git(checkout, "commit", "-qam", "pushed change")
    git(checkout, "push", "-q")
    pushed = git(checkout, "rev-parse", "HEAD")
    readme.write_text(readme.read_text() + "# committed, not pushed\n")
    git(checkout, "commit", "-qam", "unpushed change")
    unpushed = git(checkout, "rev-parse", "HEAD")
    (checkout / "notes.txt").write_text("work in progress\n")

    demo = run_until_up(workdir)
    try:
        out = " ".join(demo.output().split())
        assert f"kept your repository {checkout}" in out, out
        assert "1 unpushed commit(s)" in out and "uncommitted changes" in out, out
        assert git(checkout, "rev-parse", "HEAD") == unpushed, "the user's commit is gone"
        assert (checkout / "notes.txt").read_text() == "work in progress\n"
        served = subprocess.run(["git", "-C", str(workdir / "git/gitops.git"), "rev-parse", "main"],
                                capture_output=True, text=True, check=True).stdout.strip()
        assert served == pushed, "the demo must serve what the user pushed, not their unpushed commit"
        kube = KubeClient.load(str(workdir / "kubeconfig"))

        def fetched() -> str:
            revision = ((kube.get(GITREPOSITORIES, "gitops", "default").get("status") or {}).get("artifact") or {})
            return str(revision.get("revision") or "")

        assert pushed in wait_for(fetched, timeout=120, what="GitRepository/gitops to fetch the pushed commit",
                                  interval=0.5)
        for resource, name in ((NOTIFICATIONPROVIDERS, notifications.PROVIDER), (NOTIFICATIONRULES, notifications.RULE)):
            accepted = poll(lambda: ready(kube, resource, name) == "True", timeout=120, interval=0.5)  # noqa: B023
            assert accepted, f"{resource.kind}/{name} of the demo is not Ready: {ready(kube, resource, name)}"
        # `git push` deploys the rest, as docs/demo.md says
        git(checkout, "push", "-q")
        assert unpushed in wait_for(lambda: unpushed in fetched() and fetched(), timeout=120,
                                    what="GitRepository/gitops to fetch the commit pushed now", interval=0.5)
    finally:
        stop(demo)


def test_something_else_at_the_checkout_path_is_moved_aside_not_deleted(workdir: Path) -> None:
    checkout = workdir / "checkout"
    checkout.mkdir(parents=True)
    (checkout / "mine.txt").write_text("not a demo repository\n")
    stop_out = stop(run_until_up(workdir))
    backups = list(workdir.glob("checkout.backup-*"))
    assert len(backups) == 1 and (backups[0] / "mine.txt").read_text() == "not a demo repository\n"
    assert f"moved it to {backups[0]}" in stop_out
    assert (checkout / ".git").is_dir() and (checkout / "clusters/dev-cluster/kustomization.yaml").exists()


def _read_all(fd: int, sink: list[bytes]) -> None:
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: every process holding the terminal is gone
            return
        if not chunk:
            return
        sink.append(chunk)


@pytest.mark.timeout(300)
def test_ctrl_c_typed_under_make_demo_ends_make_with_0(workdir: Path) -> None:
    """`make demo` in a terminal, then ^Z and ^C typed into it: the terminal signals its foreground group."""
    master, slave = os.openpty()

    def controlling_terminal() -> None:  # runs in the child after setsid: the pty becomes its terminal
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    args = f"--workdir {workdir} --aws-endpoint {unreachable_endpoint()}"
    # a user types `make demo` in a shell, not inside another make: when the tests themselves run under
    # `make test`, the outer make's variables would make this one a sub-make (MAKELEVEL>0 turns on
    # "Entering/Leaving directory" lines and `make[1]:` prefixes)
    shell_env = {k: v for k, v in os.environ.items() if k not in MAKE_VARIABLES}
    make = subprocess.Popen(["make", "-o", "setup", "-o", "localstack-install", "demo", f"DEMO_ARGS={args}"],
                            cwd=REPO_ROOT, env={**shell_env, **ENV}, stdin=slave, stdout=slave, stderr=slave,
                            start_new_session=True, preexec_fn=controlling_terminal)
    os.close(slave)
    chunks: list[bytes] = []
    reader = threading.Thread(target=_read_all, args=(master, chunks), daemon=True)
    reader.start()

    def text() -> str:
        return b"".join(chunks).decode(errors="replace")

    try:
        wait_for(lambda: UP in text() or make.poll() is not None, timeout=120, what="the demo under make to be up",
                 interval=0.2)
        assert make.poll() is None, text()
        # Ctrl-Z is ignored (a stopped demo would hold the terminal while nothing can resume it): if it
        # stopped the demo, the Ctrl-C after it would never be handled and make would not end.
        os.write(master, b"\x1a")
        os.write(master, b"\x03")  # Ctrl-C, as typed
        code = make.wait(90)
        reader.join(10)
        out = text()
        assert code == 0, out[-3000:]
        assert "] stopped" in out.strip().splitlines()[-1], out[-3000:]
        assert "make: ***" not in out, out[-3000:]
        wait_for(lambda: not leftovers(workdir), timeout=20, what="no process of the demo left", interval=0.2)
    finally:
        if make.poll() is None:
            os.killpg(make.pid, 9)
            make.wait(10)
        os.close(master)
