"""`tfcontroller get` as kubectl users type it, against the dev cluster (issue 13, point 9): `KIND/NAME`,
`KIND NAME...`, comma-separated kinds and `all`, the MESSAGE column (whole when piped, shortened to
`$COLUMNS`), `-o wide`, `-o name`, `-o yaml|json` without managedFields in kubectl's key order, and
`-w` run as operators do: a process that prints the table, a line per change, and exits 0 on Ctrl-C."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import IO, Any

import pytest
import yaml

from tests.support.cli import PLAN_ID, Run, ready, table_rows
from tests.support.paths import REPO_ROOT
from tests.support.polling import wait_for
from tfcontroller.dev.cluster import DevCluster
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import TERRAFORMS

REVISION = "main@sha1:0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize("words", [["tf/bucket"], ["terraform", "bucket"], ["terraforms/bucket"],
                                   ["Terraform.tfcontroller.io", "bucket"]])
def test_one_object_by_kubectls_forms(cli: Run, objects: dict[str, Any], words: list[str]) -> None:
    res = cli("get", *words)
    assert res.code == 0, res.err
    assert [r["NAME"] for r in table_rows(res.out)] == ["bucket"]


def test_several_names_and_kinds(cli: Run, objects: dict[str, Any]) -> None:
    res = cli("get", "tf/queue", "gitrepo/infra", "tf/bucket")
    assert res.code == 0, res.err
    tables = res.out.split("\n\n")
    assert len(tables) == 2  # one table per kind, as kubectl prints them
    assert [r["NAME"] for r in table_rows(tables[0])] == ["terraform.tfcontroller.io/queue",
                                                          "terraform.tfcontroller.io/bucket"]
    assert [r["NAME"] for r in table_rows(tables[1])] == ["gitrepository.tfcontroller.io/infra"]
    names = cli("get", "tf", "queue", "bucket", "-o", "name").out.split()
    assert names == ["terraform.tfcontroller.io/queue", "terraform.tfcontroller.io/bucket"]
    assert cli("get", "tf", "queue", "ghost").code == 3


@pytest.mark.parametrize("output", ["table", "wide", "name", "yaml", "json"])
def test_a_missing_name_does_not_hide_the_others(cli: Run, objects: dict[str, Any], output: str) -> None:
    """As kubectl: the objects that exist are printed, then one error line per name that does not, and
    the exit code says not found (3). One missing object alone prints only its error, in every format."""
    res = cli("get", "tf/queue", "tf/ghost", "tf/bucket", "gitrepo/phantom", "-o", output)
    assert res.code == 3
    assert res.err.splitlines() == ['error: Terraform "ghost" not found in namespace "default"',
                                    'error: GitRepository "phantom" not found in namespace "default"']
    assert "queue" in res.out and "bucket" in res.out and "ghost" not in res.out
    if output in ("yaml", "json"):
        doc = yaml.safe_load(res.out)  # JSON is YAML
        assert doc["kind"] == "List" and [i["metadata"]["name"] for i in doc["items"]] == ["queue", "bucket"]
    alone = cli("get", "tf/ghost", "-o", output)
    assert (alone.code, alone.out) == (3, "")
    assert alone.err == 'error: Terraform "ghost" not found in namespace "default"\n'


def test_all_and_comma_separated_kinds(cli: Run, objects: dict[str, Any]) -> None:
    every = cli("get", "all", "-o", "name")
    assert every.code == 0, every.err
    assert every.out.split() == ["gitrepository.tfcontroller.io/infra", "terraform.tfcontroller.io/bucket",
                                 "terraform.tfcontroller.io/queue"]
    table = cli("get", "all")
    assert table.code == 0 and len(table.out.split("\n\n")) == 2  # no ManifestSet: its table is left out
    both = cli("get", "gitrepo,ms", "-o", "name")
    assert both.out.split() == ["gitrepository.tfcontroller.io/infra"]
    assert cli("get", "ms,gitrepo", "-n", "kube-system").out.strip() == "No resources found in namespace kube-system."


def test_message_column_whole_when_piped_shortened_to_columns(cli: Run, objects: dict[str, Any],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    rows = {r["NAME"]: r for r in table_rows(cli("get", "tf").out)}
    assert rows["bucket"]["MESSAGE"] == f"plan {PLAN_ID} waits for approval"
    monkeypatch.setenv("COLUMNS", "110")
    out = cli("get", "gitrepo").out
    assert max(len(line) for line in out.splitlines()) <= 110
    assert table_rows(out)[0]["MESSAGE"].endswith("…")
    wide = cli("get", "gitrepo", "-o", "wide").out  # wide: whole, with the source's URL and ref
    row = table_rows(wide)[0]
    assert row["MESSAGE"] == "stored artifact for main@sha1:0123456789"
    assert (row["URL"], row["REF"], row["SUSPENDED"]) == ("https://git.example.com/infra.git", "main", "False")
    tf = {r["NAME"]: r for r in table_rows(cli("get", "tf", "-o", "wide").out)}
    assert (tf["bucket"]["SOURCE"], tf["bucket"]["PATH"]) == ("gitrepository/infra", "./terraform/s3-bucket")


def test_yaml_and_json_as_kubectl_prints_them(cli: Run, kube: KubeClient, objects: dict[str, Any]) -> None:
    assert kube.get(TERRAFORMS, "bucket", "default")["metadata"].get("managedFields")  # the server keeps them
    text = cli("get", "tf/bucket", "-o", "yaml").out
    assert [line.split(":")[0] for line in text.splitlines() if line and not line.startswith(" ")] == [
        "apiVersion", "kind", "metadata", "spec", "status"]
    assert "managedFields" not in text and yaml.safe_load(text)["status"]["plan"]["pending"] == PLAN_ID
    many = json.loads(cli("get", "all", "-o", "json").out)
    assert list(many) == ["apiVersion", "items", "kind", "metadata"] and len(many["items"]) == 3
    assert all("managedFields" not in i["metadata"] for i in many["items"])


def test_usage_errors(cli: Run, objects: dict[str, Any]) -> None:
    assert cli("get").code == 2
    assert cli("get", "tf/bucket", "queue").code == 2
    assert cli("get", "tf,gitrepo", "-w").code == 2
    assert cli("get", "tf", "bucket", "-A").code == 2


class _Lines:
    """The lines a process prints, read by a thread so that a test can wait for one with a timeout."""

    def __init__(self, stream: IO[str]) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [self._queue.put(line) for line in stream], daemon=True).start()

    def wait_for(self, predicate: Any, what: str) -> str:
        def found() -> str | None:
            while not self._queue.empty():
                self.seen.append(self._queue.get())
            return next((line for line in self.seen if predicate(line)), None)
        return str(wait_for(found, timeout=60, what=f"{what} (seen: {self.seen})"))


@pytest.fixture
def watch_process(dev_cluster: DevCluster, objects: dict[str, Any], tmp_path: Any) -> Iterator[subprocess.Popen[str]]:
    env = {**os.environ, "KUBECONFIG": str(dev_cluster.kubeconfig), "HOME": str(tmp_path), "PYTHONPATH": str(REPO_ROOT)}
    env.pop("COLUMNS", None)
    proc = subprocess.Popen([sys.executable, "-m", "tfcontroller", "get", "tf", "-w"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=REPO_ROOT)
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait(10)


def test_watch_prints_a_line_per_change_and_exits_0_on_ctrl_c(watch_process: subprocess.Popen[str],
                                                             kube: KubeClient) -> None:
    assert watch_process.stdout is not None and watch_process.stderr is not None
    lines = _Lines(watch_process.stdout)
    lines.wait_for(lambda line: line.startswith("queue "), "the table")
    kube.patch_status(TERRAFORMS, "queue", "default", {
        "conditions": [ready("False", "ApplyFailed", "the bucket name is taken: pick another one")]})
    changed = lines.wait_for(lambda line: "ApplyFailed" in line, "a line for the change")
    assert changed.split()[:3] == ["queue", "False", "ApplyFailed"]
    assert changed.rstrip().endswith("the bucket name is taken: pick another one")
    head = lines.seen[0]
    assert changed.index("ApplyFailed") == head.index("REASON")  # under the first table's columns
    watch_process.send_signal(signal.SIGINT)
    assert watch_process.wait(30) == 0
    assert "Traceback" not in watch_process.stderr.read()
