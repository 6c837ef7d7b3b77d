"""Leader election with a coordination.k8s.io/v1 Lease, the way client-go's leaderelection does it.

Why a Lease and these rules: two replicas must never reconcile the same objects (two Terraform applies
on one state), and a dead leader must be replaced without a human. So:
- a candidate takes the Lease when nobody holds it, or when the holder has not renewed it for
  `lease_duration` *as observed on the candidate's own clock* (renewTime is only compared for change,
  never against our clock, so clock skew between machines does not matter);
- the leader renews every `retry_period`; if it cannot renew for `renew_deadline`, or finds another
  holder, it has lost and `on_stopped_leading` runs (the manager stops its workers) — it never tries
  to come back, like client-go, because its in-memory view may be stale;
- updates are conditional on the resourceVersion, so two candidates cannot both win;
- on a clean shutdown the leader releases the Lease (empty holder) so a standby takes over at once.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tfcontroller.api.times import format_micro
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.errors import AlreadyExists, ApiError, Conflict, NotFound
from tfcontroller.kube.resources import LEASES

log = logging.getLogger(__name__)




@dataclass
class LeaderConfig:
    name: str
    namespace: str
    identity: str
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0


class LeaderElector:
    def __init__(
        self,
        kube: KubeClient,
        config: LeaderConfig,
        on_started_leading: Callable[[], None],
        on_stopped_leading: Callable[[], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not config.retry_period < config.renew_deadline <= config.lease_duration:
            raise ValueError("leader election needs retry_period < renew_deadline <= lease_duration")
        self.kube = kube
        self.config = config
        self._on_started = on_started_leading
        self._on_stopped = on_stopped_leading
        self._clock = clock
        self._stop = threading.Event()
        self._leader = threading.Event()
        self._thread: threading.Thread | None = None
        self._observed: tuple[str, str, str] | None = None  # holder, renewTime, resourceVersion
        self._observed_at = 0.0
        self._lease: dict[str, Any] | None = None  # last version we read or wrote
        self.transitions_seen = 0

    @property
    def is_leader(self) -> bool:
        return self._leader.is_set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="leader-election", daemon=True)
        self._thread.start()

    def stop(self, release: bool = True, timeout: float = 5.0) -> None:
        """Stop campaigning/renewing. `release=False` leaves the Lease as a crashed process would."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        if release and self._leader.is_set():
            self._release()
        self._leader.clear()

    # ---- loop ------------------------------------------------------------------------------
    def _run(self) -> None:
        cfg = self.config
        while not self._stop.is_set():
            if self._try_acquire_or_renew():
                break
            self._stop.wait(cfg.retry_period)
        if self._stop.is_set():
            return
        log.info("became leader lease=%s/%s identity=%s", cfg.namespace, cfg.name, cfg.identity)
        self._leader.set()
        try:
            self._on_started()
        except Exception:  # noqa: BLE001
            log.exception("on_started_leading failed")
        last_renew = self._clock()
        while not self._stop.wait(cfg.retry_period):
            ok = self._try_acquire_or_renew()
            now = self._clock()
            if ok:
                last_renew = now
                continue
            if self._held_by_other() or now - last_renew >= cfg.renew_deadline:
                break
        if self._stop.is_set():
            return
        log.warning("lost leadership lease=%s/%s identity=%s", cfg.namespace, cfg.name, cfg.identity)
        self._leader.clear()
        try:
            self._on_stopped()
        except Exception:  # noqa: BLE001
            log.exception("on_stopped_leading failed")

    def _held_by_other(self) -> bool:
        return self._observed is not None and self._observed[0] not in ("", self.config.identity)

    def _observe(self, lease: dict[str, Any]) -> None:
        spec = lease.get("spec") or {}
        record = (str(spec.get("holderIdentity") or ""), str(spec.get("renewTime") or ""),
                  str(lease["metadata"].get("resourceVersion", "")))
        if record != self._observed:
            self._observed = record
            self._observed_at = self._clock()
        self._lease = lease

    def _try_acquire_or_renew(self) -> bool:
        cfg = self.config
        now_s = format_micro()
        duration = max(1, math.ceil(cfg.lease_duration))
        try:
            lease = self.kube.get(LEASES, cfg.name, cfg.namespace)
        except NotFound:
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": cfg.name, "namespace": cfg.namespace},
                "spec": {"holderIdentity": cfg.identity, "leaseDurationSeconds": duration,
                         "acquireTime": now_s, "renewTime": now_s, "leaseTransitions": 0},
            }
            try:
                self._observe(self.kube.create(LEASES, body))
                return True
            except (AlreadyExists, ApiError) as exc:
                log.debug("could not create lease: %s", getattr(exc, "reason", exc))
                return False
        except ApiError as exc:
            log.warning("could not read lease %s/%s: %s", cfg.namespace, cfg.name, exc.reason)
            return False
        self._observe(lease)
        spec = dict(lease.get("spec") or {})
        holder = str(spec.get("holderIdentity") or "")
        held_for = float(spec.get("leaseDurationSeconds") or duration)
        if holder and holder != cfg.identity and self._observed_at + held_for > self._clock():
            return False
        if holder != cfg.identity:
            spec["acquireTime"] = now_s
            spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + 1
            self.transitions_seen += 1
        spec.update({"holderIdentity": cfg.identity, "leaseDurationSeconds": duration, "renewTime": now_s})
        updated = dict(lease)
        updated["spec"] = spec
        try:
            self._observe(self.kube.replace(LEASES, updated))
            return True
        except Conflict:
            return False
        except ApiError as exc:
            log.warning("could not update lease %s/%s: %s", cfg.namespace, cfg.name, exc.reason)
            return False

    def _release(self) -> None:
        lease = self._lease
        if lease is None:
            return
        spec = dict(lease.get("spec") or {})
        if spec.get("holderIdentity") != self.config.identity:
            return
        spec.update({"holderIdentity": "", "leaseDurationSeconds": 1, "renewTime": format_micro()})
        try:
            self.kube.replace(LEASES, {**lease, "spec": spec})
            log.info("released lease %s/%s", self.config.namespace, self.config.name)
        except ApiError as exc:
            log.warning("could not release lease: %s", exc.reason)
