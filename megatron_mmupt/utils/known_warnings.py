"""Known, harmless third-party warnings, filtered by message and module once per process.

A newcomer's console should show the progress bar, the stage lines and the result table, not the same
fallback notices from every Ray worker. Each entry below names the exact message (a regex matched at its start)
and the module that warns, and says why it is harmless; anything else, from these modules or from ours, still
shows. Installed by the CLI (the driver) and, through Ray's ``worker_process_setup_hook``
(``parallel/cluster.py``), by every Ray worker before it imports anything of ours.

    install()     # idempotent (``warnings.filterwarnings`` replaces an equal filter); never a blanket "ignore"
"""

from __future__ import annotations

import dataclasses
import warnings


@dataclasses.dataclass(frozen=True, slots=True)
class KnownWarning:
    message: str
    """Regex matched at the start of the warning's message."""
    module: str
    """Regex matched against the whole name of the module that warns."""
    category: type[Warning]
    why: str
    """Why it is harmless (documentation; shown by ``describe``)."""


RAY_WORKER_SETUP_HOOK = "megatron_mmupt.utils.known_warnings.install"
"""Ray's ``runtime_env["worker_process_setup_hook"]``: every worker installs the filters when it starts."""

_MEGATRON = r"megatron\.core(\..*)?|megatron_fsdp(\..*)?|.*\.megatron_fsdp\..*"

KNOWN_WARNINGS: tuple[KnownWarning, ...] = (
    KnownWarning(
        r"Apex is not installed\. Falling back to Torch Norm", _MEGATRON, UserWarning,
        "Megatron-Core's local spec uses torch's LayerNorm/RMSNorm when Apex is absent; the CPU and the demo use it",
    ),
    KnownWarning(
        r"Transformer Engine and Apex are not installed\. Falling back to ", _MEGATRON, UserWarning,
        "torch optimizers and multi-tensor kernels replace the fused ones: the same math, slower (CPU runs, tests)",
    ),
    KnownWarning(
        r"full scope is deprecated\. Use empty cuda_graph_scope", _MEGATRON, UserWarning,
        "TransformerConfig's own default for cuda_graph_scope; CUDA graphs are off in our configs",
    ),
)  # fmt: skip


def install() -> None:
    """Add one ``ignore`` filter per known warning (message and module); calling it again adds nothing."""
    for known in KNOWN_WARNINGS:
        warnings.filterwarnings("ignore", message=known.message, category=known.category, module=known.module)


def describe() -> str:
    """One line per filtered warning and why it is harmless."""
    return "\n".join(f"{k.category.__name__} from {k.module}: {k.message!r}: {k.why}" for k in KNOWN_WARNINGS)
