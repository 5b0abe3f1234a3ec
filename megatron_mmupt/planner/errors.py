"""The planner's one error: what does not work for this cluster shape, and the changes that would make it work."""

from __future__ import annotations

from collections.abc import Sequence

from megatron_mmupt.config.configurable import ConfigError


class PlanError(ConfigError):
    """A configuration that cannot run on the given cluster shape.

    A ``ConfigError``, so the command line prints it as one line and exits with the usage status. ``fixes``
    are concrete changes (dotted overrides or command-line flags), each of which the planner checked where it
    could; the message lists them after the problem.
    """

    def __init__(self, problem: str, fixes: Sequence[str] = ()) -> None:
        self.problem = problem
        self.fixes = list(fixes)
        super().__init__(problem + (f"; fix: {' | '.join(self.fixes)}" if self.fixes else ""))
