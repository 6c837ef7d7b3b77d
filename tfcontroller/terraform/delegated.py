"""What the two runners that hand each Terraform command to `tfcontroller runner` share (issue 15):
`ProtocolRunner` (`--runner=local`, a local process) and `PodRunner` (`--runner=pod`, a Pod) keep
`TerraformRunner`'s interface, and the commands that need no run of their own, or only turn a run's
result into what the controller's steps read, are the same for both: `init` does nothing (each run
initialises itself), `show_json` returns the show of this runner's last plan run, `output_json` is refused
(outputs are read from the state), a plan run becomes a `PlanResult`, an apply run the outputs message.
Each subclass says how a command runs (`_launch`) and what its empty results are called (`EMPTY_ARGS`).
"""

from __future__ import annotations

from typing import Any

from tfcontroller.api import run_protocol as rp
from tfcontroller.api.errors import TransientError
from tfcontroller.terraform.runner import CommandResult, PlanResult, TerraformRunner

RUNNER_FAILED = "RunnerFailed"


class DelegatingRunner(TerraformRunner):
    """The commands of `TerraformRunner` answered from run results, not by running Terraform here."""

    EMPTY_ARGS: tuple[str, ...] = ("tfcontroller", "runner")  # the args of a command that ran nothing here
    _show: dict[str, Any] | None = None  # the show document of this runner's last plan run

    def init(self, upgrade: bool = False, lock_timeout: float = 0) -> CommandResult:
        return self._empty("init")  # each run initialises (or reuses the object's init cache) itself

    def show_json(self, planfile: Any) -> dict[str, Any]:
        if self._show is None:
            raise TransientError(RUNNER_FAILED, "no plan was made by this runner to show")
        return self._show

    def output_json(self) -> dict[str, Any]:
        raise TransientError(RUNNER_FAILED, "outputs are read from the state, not from a runner")

    def _planned(self, result: rp.RunResult) -> PlanResult:
        """A plan run's result as the steps read it; its show document kept for `show_json`."""
        self._show = result.show
        plan = result.plan or rp.PlanSummary(False)
        return PlanResult(plan.has_changes, plan.add, plan.change, plan.destroy)

    def _applied(self, result: rp.RunResult) -> CommandResult:
        """An apply run's result as the steps read it: which outputs it has and which are sensitive."""
        outputs = {name: {"sensitive": sensitive} for name, sensitive in result.outputs.items()}
        return self._empty("apply", ({"type": "outputs", "outputs": outputs},))

    def _empty(self, command: str, messages: tuple[dict[str, Any], ...] = ()) -> CommandResult:
        return CommandResult(args=(*self.EMPTY_ARGS, command), returncode=0, stdout="", stderr="",
                             messages=messages, diagnostics=(), seconds=0.0)
