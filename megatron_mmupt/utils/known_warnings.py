"""Known, harmless third-party warnings, filtered by message and module once per process.

A newcomer's console should show the progress bar, the stage lines and the result table, not the same
fallback notices from every Ray worker. Each entry below names the exact message (a regex matched at its start)
and the module that warns, and says why it is harmless; anything else, from these modules or from ours, still
shows. Installed by the CLI (the driver) and, through Ray's ``worker_process_setup_hook``
(``parallel/cluster.py``), by every Ray worker before it imports anything of ours (``install_in_worker``, which
also turns off transformers' weight-loading bar there).

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


RAY_WORKER_SETUP_HOOK = "megatron_mmupt.utils.known_warnings.install_in_worker"
"""Ray's ``runtime_env["worker_process_setup_hook"]``: every worker runs ``install_in_worker`` when it starts."""

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


def install_in_worker() -> None:
    """``install``, and no weight-loading bar from transformers: each actor and engine start would print one
    into the driver's console, between the lines of its progress bar. Hub downloads keep theirs."""
    install()
    try:
        from transformers.utils import logging as transformers_logging
    except ImportError:  # a worker without transformers has no such bar
        return
    transformers_logging.disable_progress_bar()


def describe() -> str:
    """One line per filtered warning and why it is harmless."""
    return "\n".join(f"{k.category.__name__} from {k.module}: {k.message!r}: {k.why}" for k in KNOWN_WARNINGS)
