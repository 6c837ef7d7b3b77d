"""The bwrap command line, command resolution, the Job controller's decisions, volume contents and the
kubectl columns — pure parts of the dev node."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from tfcontroller.dev.cluster.node import columns, jobs, sandbox, volumes
from tfcontroller.dev.cluster.node.node import lost_status


def _spec(**kw: object) -> sandbox.SandboxSpec:
    base: dict = {"argv": ["sh", "-c", "true"], "env": {"A": "1"}, "uid": 1000, "gid": 2000}
    base.update(kw)
    return sandbox.SandboxSpec(**base)


def test_bwrap_argv_namespaces_allow_list_and_identity() -> None:
    argv = sandbox.bwrap_argv(_spec(mounts=[sandbox.Mount("/host/v", "/data", True),
                                            sandbox.Mount("/host/e", "/scratch", False)],
                                    working_dir="/app", supplemental_groups=[5]))
    joined = " ".join(argv)
    for flag in ("--unshare-pid", "--unshare-ipc", "--as-pid-1", "--new-session", "--die-with-parent",
                 "--proc /proc", "--clearenv", "--setenv A 1", "--ro-bind /host/v /data", "--bind /host/e /scratch",
                 "--chdir /app", "--perms 1777 --dir /app", "--reuid=1000", "--regid=2000", "--groups=5",
                 "--bounding-set=-all", "--no-new-privs", "--pdeathsig=KILL"):
        assert flag in joined, flag
    assert "--unshare-net" not in argv  # the host's network
    assert argv[-3:] == ["sh", "-c", "true"]
    assert "/root" not in argv and "/work" not in argv and "/" not in [argv[i + 1] for i, a in enumerate(argv) if a == "--bind"]


def test_mount_point_parents_are_created_traversable() -> None:
    argv = sandbox.bwrap_argv(_spec(mounts=[sandbox.Mount("/v", "/var/run/secrets/sa", True),
                                            sandbox.Mount("/w", "/data", False),
                                            sandbox.Mount("/x", "/data/sub/inner", True)]))
    dirs = [argv[i + 1] for i, a in enumerate(argv) if a == "--dir"]
    assert dirs == ["/var", "/var/run", "/var/run/secrets"]  # never inside /data, which is a host directory
    first_bind = min(i for i, a in enumerate(argv) if a in ("--bind", "--ro-bind") and argv[i + 2] == "/data")
    assert argv.index("--dir") < first_bind


def test_hidden_paths_under_an_allowed_directory_get_a_tmpfs() -> None:
    argv = sandbox.bwrap_argv(_spec(hidden=["/etc", "/tmp/devcluster-x"]))
    pairs = list(zip(argv, argv[1:], strict=False))
    assert pairs.index(("--tmpfs", "/etc")) > pairs.index(("--ro-bind", "/etc"))  # covers the allowed bind
    assert "/tmp/devcluster-x" not in argv  # /tmp is a fresh tmpfs already


def test_an_image_below_tmp_is_bound_on_top_of_the_fresh_tmp_with_traversable_parents() -> None:
    """A checkout cloned into /tmp (as CI does) gives image directories below /tmp: the fresh /tmp must not
    cover them, and their parents there must be traversable by a non-root container (bwrap makes 0700)."""
    argv = sandbox.bwrap_argv(_spec(image_paths=("/tmp/clone/.venv", "/tmp/clone/tfcontroller")))
    pairs = list(zip(argv, argv[1:], strict=False))
    fresh_tmp = pairs.index(("--tmpfs", "/tmp"))
    assert fresh_tmp < pairs.index(("--ro-bind", "/tmp/clone/.venv"))
    assert fresh_tmp < pairs.index(("--ro-bind", "/tmp/clone/tfcontroller"))
    assert argv[argv.index("/tmp/clone") - 3:argv.index("/tmp/clone") + 1] == ["--perms", "0755", "--dir", "/tmp/clone"]
    assert argv.count("/tmp/clone") == 1 and ("--dir", "/tmp") not in pairs


def test_an_image_below_a_volume_mount_point_is_bound_again_on_top_of_the_volume() -> None:
    """The same checkout in /tmp under an emptyDir mounted at /tmp (the dashboard's Deployment has one): the
    volume must not hide the image (the command would not be found: exit 127); the image directories are
    bound after the volume, their parents inside it made traversable, the private masks applied again."""
    argv = sandbox.bwrap_argv(_spec(image_paths=("/tmp/clone/.venv", "/opt/py"),
                                    mounts=[sandbox.Mount("/host/empty", "/tmp", False)]))
    pairs = list(zip(argv, argv[1:], strict=False))
    volume = pairs.index(("/host/empty", "/tmp"))
    venv_binds = [i for i, pair in enumerate(pairs) if pair == ("--ro-bind", "/tmp/clone/.venv")]
    assert len(venv_binds) == 2 and venv_binds[0] < volume < venv_binds[1]
    parent = max(i for i, pair in enumerate(pairs) if pair == ("--dir", "/tmp/clone"))
    assert volume < parent < venv_binds[1] and argv[parent - 1] == "0755"
    assert [pair for pair in pairs if pair == ("--ro-bind", "/opt/py")] == [("--ro-bind", "/opt/py")]  # not under it


@pytest.mark.parametrize(("command", "found"), [("sh", True), ("/bin/sh", True), ("definitely-not-here", False),
                                                ("/root/.pyenv/shims/python3", False)])
def test_resolve_command_only_inside_the_allow_list(command: str, found: bool) -> None:
    assert (sandbox.resolve_command(command, sandbox.DEFAULT_PATH) is not None) is found


def _job(**spec: object) -> dict:
    return {"metadata": {"name": "j", "namespace": "ns", "uid": "ju"},
            "spec": {"template": {"spec": {"restartPolicy": "Never"}}, **spec}, "status": {}}


def _jpod(name: str, phase: str, finished: str = "2026-01-01T00:00:00Z", restarts: int = 0) -> dict:
    state = {"terminated": {"finishedAt": finished}} if phase in ("Succeeded", "Failed") else {"running": {}}
    return {"metadata": {"name": name}, "status": {"phase": phase, "containerStatuses": [
        {"state": state, "restartCount": restarts}]}}


T0 = 1767225600.0  # 2026-01-01T00:00:00Z


def test_job_creates_up_to_parallelism_and_completes_at_completions() -> None:
    assert jobs.decide(_job(completions=3, parallelism=2), [], T0, 10, 360).create == 2
    d = jobs.decide(_job(completions=3, parallelism=2), [_jpod("a", "Succeeded"), _jpod("b", "Running")], T0, 10, 360)
    assert d.create == 1 and d.status["succeeded"] == 1 and d.status["active"] == 1
    done = jobs.decide(_job(completions=2), [_jpod("a", "Succeeded"), _jpod("b", "Succeeded")], T0, 10, 360)
    assert done.condition == ("Complete", "", "") and done.create == 0


def test_job_backs_off_then_fails_past_the_backoff_limit() -> None:
    one_failure = [_jpod("a", "Failed")]
    waiting = jobs.decide(_job(backoffLimit=2), one_failure, T0 + 3, 10, 360)
    assert waiting.create == 0 and waiting.retry_after == pytest.approx(7)
    assert jobs.decide(_job(backoffLimit=2), one_failure, T0 + 11, 10, 360).create == 1
    two = one_failure + [_jpod("b", "Failed")]
    assert jobs.decide(_job(backoffLimit=2), two, T0 + 15, 10, 360).retry_after == pytest.approx(5)  # 20 s now
    three = two + [_jpod("c", "Failed")]
    failed = jobs.decide(_job(backoffLimit=2), three, T0 + 100, 10, 360)
    assert failed.condition == ("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")


def test_on_failure_restarts_count_against_the_backoff_limit() -> None:
    job = _job(backoffLimit=1)
    job["spec"]["template"]["spec"]["restartPolicy"] = "OnFailure"
    d = jobs.decide(job, [_jpod("a", "Running", restarts=2)], T0, 10, 360)
    assert d.condition is not None and d.condition[1] == "BackoffLimitExceeded" and d.delete == ["a"]


def test_job_deadline_and_ttl() -> None:
    job = _job(activeDeadlineSeconds=5)
    job["status"]["startTime"] = "2026-01-01T00:00:00Z"
    d = jobs.decide(job, [_jpod("a", "Running")], T0 + 6, 10, 360)
    assert d.condition == ("Failed", "DeadlineExceeded", "Job was active longer than specified deadline")
    assert d.delete == ["a"]
    finished = _job(ttlSecondsAfterFinished=10)
    finished["status"] = {"completionTime": "2026-01-01T00:00:00Z",
                          "conditions": [{"type": "Complete", "status": "True"}]}
    assert jobs.decide(finished, [], T0 + 5, 10, 360).retry_after == pytest.approx(5)
    assert jobs.decide(finished, [], T0 + 10, 10, 360).delete_job


def test_pod_for_a_job_has_owner_and_labels() -> None:
    pod = jobs.pod_for(_job())
    ref = pod["metadata"]["ownerReferences"][0]
    assert ref == {"apiVersion": "batch/v1", "kind": "Job", "name": "j", "uid": "ju", "controller": True,
                   "blockOwnerDeletion": True}
    labels = pod["metadata"]["labels"]
    assert labels["batch.kubernetes.io/job-name"] == "j" and labels["batch.kubernetes.io/controller-uid"] == "ju"
    assert pod["metadata"]["generateName"] == "j-"


def test_volume_files_items_modes_and_optional() -> None:
    objects = {("secrets", "s"): {"data": {"a": base64.b64encode(b"1").decode(), "b": base64.b64encode(b"2").decode()}},
               ("configmaps", "c"): {"data": {"x": "y"}, "binaryData": {"bin": base64.b64encode(b"\x00").decode()}}}

    def lookup(plural: str, name: str) -> dict | None:
        return objects.get((plural, name))

    pod = {"metadata": {"name": "p", "namespace": "n"}, "spec": {}}
    files = volumes.volume_files({"secret": {"secretName": "s", "defaultMode": 0o400, "items": [
        {"key": "b", "path": "dir/b", "mode": 0o600}]}}, pod, lookup, {})
    assert files == [volumes.File("dir/b", b"2", 0o600)]
    assert [f.path for f in volumes.volume_files({"configMap": {"name": "c"}}, pod, lookup, {})] == ["bin", "x"]
    assert volumes.volume_files({"configMap": {"name": "none", "optional": True}}, pod, lookup, {}) == []
    with pytest.raises(volumes.VolumeError, match='secret "none" not found'):
        volumes.volume_files({"secret": {"secretName": "none"}}, pod, lookup, {})
    projected = volumes.volume_files({"projected": {"defaultMode": 0o440, "sources": [
        {"secret": {"name": "s", "items": [{"key": "a", "path": "a"}]}},
        {"downwardAPI": {"items": [{"path": "ns", "fieldRef": {"fieldPath": "metadata.namespace"}}]}},
        {"serviceAccountToken": {"path": "token", "audience": "aud", "expirationSeconds": 600}},
    ]}}, pod, lookup, {}, tokens=lambda aud, exp, p: f"tok-{aud}-{exp}")
    assert projected == [volumes.File("a", b"1", 0o440), volumes.File("ns", b"n", 0o440),
                         volumes.File("token", b"tok-aud-600", 0o440)]
    assert volumes.unsupported({"name": "h", "hostPath": {"path": "/"}}) is not None


@pytest.mark.parametrize(("status", "deleting", "want"), [
    ({"phase": "Running", "containerStatuses": [{"ready": True, "state": {"running": {}}}]}, False, "Running"),
    ({"phase": "Pending", "containerStatuses": [{"state": {"waiting": {"reason": "CreateContainerConfigError"}}}]},
     False, "CreateContainerConfigError"),
    ({"phase": "Failed", "containerStatuses": [{"state": {"terminated": {"reason": "OOMKilled"}}}]}, False, "OOMKilled"),
    ({"phase": "Succeeded", "containerStatuses": [{"state": {"terminated": {"reason": "Completed"}}}]}, False, "Completed"),
    ({"phase": "Pending", "initContainerStatuses": [{"state": {"running": {}}}]}, False, "Init:0/1"),
    ({"phase": "Running", "containerStatuses": [{"ready": True, "state": {"running": {}}}]}, True, "Terminating"),
    ({"phase": "Failed", "reason": "DeadlineExceeded"}, False, "DeadlineExceeded"),
])
def test_pod_status_column(status: dict, deleting: bool, want: str) -> None:
    pod = {"metadata": {"deletionTimestamp": "t"} if deleting else {}, "spec": {"initContainers": [{}]}
           if "initContainerStatuses" in status else {}, "status": status}
    assert columns.pod_status(pod) == want


def test_lost_status_fails_running_pods_as_node_lost() -> None:
    pod = {"metadata": {"name": "p"}, "status": {"phase": "Running", "conditions": [
        {"type": "Ready", "status": "True"}], "containerStatuses": [{"name": "c", "ready": True,
                                                                     "state": {"running": {"startedAt": "t"}}}]}}
    lost = lost_status(pod, "dev-node")
    assert (lost["phase"], lost["reason"]) == ("Failed", "NodeLost")
    cs = lost["containerStatuses"][0]
    assert cs["state"]["terminated"]["reason"] == "ContainerStatusUnknown" and cs["lastState"] == {"running": {"startedAt": "t"}}
    assert lost["conditions"][0]["status"] == "False"


def test_proc_knobs_read_only_host_files_masked_and_dev_shm_writable() -> None:
    private = sandbox.PrivatePaths(files=("/etc/shadow",), dirs=("/etc/ssl/private",))
    argv = sandbox.bwrap_argv(_spec(private=private))
    joined = " ".join(argv)
    assert "--ro-bind /proc/sys /proc/sys" in joined  # a uid-0 container must not set host-wide sysctls
    assert "--ro-bind /dev/null /proc/keys" in joined
    assert "--perms 1777 --tmpfs /dev/shm" in joined
    assert "--ro-bind /dev/null /etc/shadow" in joined
    assert "--perms 0555 --tmpfs /etc/ssl/private --remount-ro /etc/ssl/private" in joined
    # the covers come after the mounts they cover
    assert argv.index("/proc/sys") > argv.index("--proc") and argv.index("/etc/shadow") > argv.index("/etc")


def test_find_private_lists_what_others_cannot_read(tmp_path: Path) -> None:
    root = tmp_path / "etc"
    (root / "ssl" / "private").mkdir(parents=True)
    (root / "ssl" / "private" / "key.pem").write_text("k")
    (root / "ssl" / "private").chmod(0o700)
    (root / "search-only").mkdir()
    (root / "search-only").chmod(0o711)
    (root / "shadow").write_text("s")
    (root / "shadow").chmod(0o640)
    (root / "passwd").write_text("p")
    (root / "passwd").chmod(0o644)
    (root / "link").symlink_to("shadow")
    found = sandbox.find_private((str(root), str(tmp_path / "missing")))
    assert found.files == (str(root / "shadow"),)
    assert found.dirs == (str(root / "search-only"), str(root / "ssl" / "private"))  # not descended


def test_a_sub_path_mount_is_bound_through_its_descriptor() -> None:
    argv = sandbox.bwrap_argv(_spec(mounts=[sandbox.Mount("/v/data/sub", "/m", False, fd=7),
                                            sandbox.Mount("/v/cfg/f", "/c", True, fd=8)]))
    joined = " ".join(argv)
    assert "--bind-fd 7 /m" in joined and "--ro-bind-fd 8 /c" in joined and "/v/data/sub" not in argv


@pytest.mark.parametrize(("sub", "problem"), [
    ("a/b", None), ("a..b/c", None), ("..", "must not contain '..'"), ("a/../../b", "must not contain '..'"),
    ("/etc", "must not be an absolute path"),
])
def test_sub_path_problem(sub: str, problem: str | None) -> None:
    found = volumes.sub_path_problem(sub)
    assert (found is None) if problem is None else (found is not None and problem in found)


def test_sub_path_outside_its_volume_is_refused(tmp_path: Path) -> None:
    base = tmp_path / "vol"
    (base / "inner").mkdir(parents=True)
    (base / "up").symlink_to(tmp_path)
    (base / "in").symlink_to("inner")
    vs = volumes.VolumeSet(tmp_path / "pod", tmp_path / "shm", os.getuid(), os.getgid())
    vs.paths["v"] = base
    container = {"name": "c", "volumeMounts": [{"name": "v", "mountPath": "/m", "subPath": "up"}]}
    with pytest.raises(volumes.VolumeError, match='failed to prepare subPath for volumeMount "v" of container "c"'):
        vs.mounts(container)
    container["volumeMounts"] = [{"name": "v", "mountPath": "/m", "subPath": "in"},
                                 {"name": "v", "mountPath": "/n", "subPath": "new/dir"}]
    mounts = vs.mounts(container)
    try:
        assert [os.readlink(f"/proc/self/fd/{m.fd}") for m in mounts] == [str(base / "inner"), str(base / "new/dir")]
    finally:
        volumes.close_mounts(mounts)


def test_only_other_identities_wait_for_the_scan_of_private_files() -> None:
    assert sandbox.private_paths_for(0, 0, []) is sandbox.private_paths()  # root waits for (and gets) the masks
    assert sandbox.private_paths_for(1000, 42, []) is sandbox.private_paths()
    assert sandbox.private_paths_for(65534, 65534, [42]) is sandbox.private_paths()
    assert sandbox.private_paths_for(65534, 65534, []) is sandbox.private_paths()  # once scanned, nobody gets them too


def test_read_only_root_keeps_tmp_on_the_root_and_remounts_it_read_only() -> None:
    argv = sandbox.bwrap_argv(_spec(read_only_root=True, mounts=[sandbox.Mount("/v", "/data", False)]))
    joined = " ".join(argv)
    assert "--perms 1777 --dir /tmp" in joined and "--tmpfs /tmp" not in joined
    root = [i for i, a in enumerate(argv) if a == "--remount-ro" and argv[i + 1] == "/"]
    assert len(root) == 1 and root[0] > argv.index("/data")  # after every mount, which keep their own flags
    plain = sandbox.bwrap_argv(_spec())
    assert not [i for i, a in enumerate(plain) if a == "--remount-ro" and plain[i + 1] == "/"]


def test_the_environment_travels_through_a_descriptor_not_the_command_line() -> None:
    argv = sandbox.bwrap_argv(_spec(env={"PASSWORD": "s3cret"}), env_fd=9)
    assert "s3cret" not in argv and "--setenv" not in argv
    assert argv[argv.index("--clearenv") + 1:argv.index("--clearenv") + 3] == ["--args", "9"]
    assert sandbox.env_args({"A": "1", "PASSWORD": "s3cret"}) == b"--setenv\0A\x001\0--setenv\0PASSWORD\0s3cret\0"
