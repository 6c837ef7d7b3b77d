"""Pod start latency on the dev cluster's node: create → Running, over the real API (Python client, a
watch on the Pod), for `--pods` Pods one after another. Prints each Pod's time, the median and the
ratio of the median to the target (0.5 s, issue 14) — below 1.0 meets it. Not part of `make test`;
see benchmarks/README.md.

`--image tfcontroller:dev` starts Pods of the node's own image (the venv and package mounted, see
docs/dev-cluster.md "Images"); `--run-version` measures create → Succeeded of that image's entrypoint
running `tfcontroller version` (a Python start and the package's import) instead of create → Running.

    .venv/bin/python benchmarks/pod_start.py [--pods 20] [--target 0.5] [--image NAME] [--run-version]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import kubernetes

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tfcontroller.dev.cluster import DevCluster  # noqa: E402


def start_time(core: kubernetes.client.CoreV1Api, name: str, image: str = "busybox", run_version: bool = False) -> float:
    """Seconds from the create request to the watch event that shows the Pod Running (with
    `run_version`: Succeeded, after the image's entrypoint ran `version`)."""
    container = {"name": "c", "image": image, **({"args": ["version"]} if run_version else {"command": ["sleep", "30"]})}
    body = {"metadata": {"name": name}, "spec": {"restartPolicy": "Never", "containers": [container]}}
    phase = "Succeeded" if run_version else "Running"
    rv = core.list_namespaced_pod("default").metadata.resource_version
    watch = kubernetes.watch.Watch()
    began = time.monotonic()
    core.create_namespaced_pod("default", body)
    try:
        for event in watch.stream(core.list_namespaced_pod, "default", resource_version=rv,
                                  field_selector=f"metadata.name={name}", timeout_seconds=30):
            if event["object"].status and event["object"].status.phase == phase:
                return time.monotonic() - began
    finally:
        watch.stop()
    raise RuntimeError(f"{name} did not reach {phase} in 30 s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pods", type=int, default=20)
    parser.add_argument("--target", type=float, default=0.5)
    parser.add_argument("--image", default="busybox", help="busybox (the host allow-list) or tfcontroller:dev")
    parser.add_argument("--run-version", action="store_true",
                        help="time create → Succeeded of the image's entrypoint with args [version]")
    args = parser.parse_args()
    with DevCluster(node=True) as cluster:
        client = kubernetes.config.new_client_from_config(config_file=cluster.kubeconfig)
        core = kubernetes.client.CoreV1Api(client)
        times = []
        for i in range(args.pods):
            seconds = start_time(core, f"bench-{i}", args.image, args.run_version)
            times.append(seconds)
            print(f"bench-{i}: {seconds * 1000:.0f} ms", flush=True)
            core.delete_namespaced_pod(f"bench-{i}", "default", grace_period_seconds=0)
        client.close()
    median = statistics.median(times)
    what = "create → Succeeded (tfcontroller version)" if args.run_version else "create → Running"
    print(f"{what} of {args.image}: median {median * 1000:.0f} ms, max {max(times) * 1000:.0f} ms over {len(times)} Pods; "
          f"ratio to the {args.target:g} s target: {median / args.target:.2f}")
    return 0 if median <= args.target else 1


if __name__ == "__main__":
    sys.exit(main())
