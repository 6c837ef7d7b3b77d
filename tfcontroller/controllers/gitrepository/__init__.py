"""The GitRepository controller: poll a remote, publish its tree as a content-addressed artifact.

Layout (one file per seam, as every controller package):
- `__init__.py`  `register(manager, kube, options)`, its typed options and its `tfcontroller run` flags
- reconciler.py  the frame: read (cache with read-your-writes), deletion/finalizer/suspend, the ordered
                 steps through `run_frame`, Events
- steps.py       one function per step; steps never call steps
- context.py     the RunContext the steps share; reason constants
- policy.py      pure decisions: poll schedule, "artifact is current", resourceVersion order
- lscache.py     the short-lived ls-remote cache shared by every object of one remote
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tfcontroller.controllers.gitrepository.context import CONTROLLER_NAME, DEFAULT_LS_REMOTE_TTL
from tfcontroller.controllers.gitrepository.reconciler import GitRepositoryReconciler
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import GITREPOSITORIES
from tfcontroller.runtime.manager import Controller

if TYPE_CHECKING:
    from tfcontroller.controllers.setup import ControllerManager


@dataclass(frozen=True)
class GitRepositoryOptions:
    """What `tfcontroller run` (or a test) configures for this controller. The artifact store, its
    server and the git mirrors are shared by every controller and belong to the manager's options."""

    ls_remote_ttl: float = DEFAULT_LS_REMOTE_TTL  # how long one ls-remote answer serves a URL


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """This controller's flags of `tfcontroller run`: none yet (the artifact and git-cache flags are the
    manager's, shared with the consumers of artifacts); here so every controller has the same shape."""


def options_from_args(args: argparse.Namespace) -> GitRepositoryOptions:
    """The options from the parsed flags of `tfcontroller run`."""
    return GitRepositoryOptions()


def register(manager: ControllerManager, kube: KubeClient, options: GitRepositoryOptions) -> GitRepositoryReconciler:
    """Add the GitRepository controller to `manager`; reads go through its primary informer's cache."""
    reconciler = GitRepositoryReconciler(
        kube, manager.git_fetcher, manager.artifact_store, manager.events, ls_remote_ttl=options.ls_remote_ttl,
    )
    manager.add_controller(Controller(name=CONTROLLER_NAME, resource=GITREPOSITORIES, reconcile=reconciler.reconcile))
    reconciler.cache_get = manager.primary_informer(CONTROLLER_NAME).get
    manager.gitrepository = reconciler
    return reconciler


__all__ = ["CONTROLLER_NAME", "GitRepositoryOptions", "GitRepositoryReconciler", "add_run_arguments",
           "options_from_args", "register"]
