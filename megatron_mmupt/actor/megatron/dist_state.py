"""The actor's resumable state in Megatron-Core terms: model + optimizer as a dist-checkpoint, the RNG tracker.

``checkpoint/`` calls these; this file is where its saves and loads enter Megatron. The dist-checkpoint holds
``{"model": <Qwen2_5_VLModel.sharded_state_dict()>, "optimizer": <optimizer.sharded_state_dict(model)>}`` (the
Megatron-LM layout); tensors are stored under their global sharded keys, so a checkpoint saved at one TP/PP
loads at another (Megatron reshards). The optimizer metadata asks for the ``dp_reshardable`` format of the
distributed optimizer: the older default (``fully_sharded_model_space``) fails on ``flattened_range`` tensors.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from megatron_mmupt.actor.megatron.actor import MegatronActor
from megatron_mmupt.bridge.convert.metadata import CheckpointMetadata, dtype_name
from megatron_mmupt.utils.errors import InputError

OPTIMIZER_METADATA = {"distrib_optim_sharding_type": "dp_reshardable"}
OPTIMIZER_PREFIX = "optimizer."
"""Sharded keys of the optimizer's state (``optimizer.state.exp_avg.<parameter key>``)."""


def save_actor_state(actor: MegatronActor, folder: Path) -> None:
    """Collective over every rank: write the model and optimizer shards into ``folder`` (existing, empty)."""
    from megatron.core import dist_checkpointing

    dist_checkpointing.save(_sharded_state(actor, loading=False, with_optimizer=True), str(folder))


def load_actor_state(actor: MegatronActor, folder: Path, *, with_optimizer: bool = True) -> None:
    """Collective: fill the model (and the optimizer) from ``folder``, resharding to this layout.

    Tensors only one side has (the checkpoint, or this actor's model / optimizer), and tensors of another shape,
    raise ``InputError`` naming the folder, on every rank alike: nothing is changed before the check passed.
    The optimizer load runs under ``torch.no_grad()``: with fp32 parameters it copies into views of leaves that
    require grad.
    """
    from megatron.core import dist_checkpointing
    from megatron.core.dist_checkpointing.core import CheckpointingException
    from megatron.core.dist_checkpointing.validation import StrictHandling

    request = _sharded_state(actor, loading=True, with_optimizer=with_optimizer)
    fix = "resume with the model, layer spec and optimizer settings it was saved with"
    try:
        # NOTE: RETURN_ALL, not RAISE_*: Megatron raises per rank, and a rank without a mismatch would then wait
        # in the load's collectives for peers that have given up. The mismatches are gathered and judged below.
        state, missing, unexpected = dist_checkpointing.load(request, str(folder), strict=StrictHandling.RETURN_ALL)
    except CheckpointingException as e:
        raise InputError(f"checkpoint {folder} does not fit this actor ({e}); {fix}") from e
    if not with_optimizer:
        missing = {key for key in missing if not key.startswith(OPTIMIZER_PREFIX)}
    _raise_on_mismatch(folder, missing, unexpected, fix)
    actor.unwrapped.load_state_dict(state["model"], strict=True)
    if with_optimizer:
        with torch.no_grad():
            actor.optimizer.load_state_dict(state["optimizer"])
        _restore_adam_steps(actor.optimizer)


def checkpoint_metadata(actor: MegatronActor) -> CheckpointMetadata:
    """The bridge's record of the saved model: with it, ``convert mcore-to-hf`` reads a training checkpoint."""
    parallel = actor.config.parallel
    return CheckpointMetadata(
        hf_config=json.loads((Path(actor.config.model) / "config.json").read_text()),
        padded_vocab_size=parallel.padded_vocab_size(actor.hf_vocab),
        spec=actor.spec,
        tensor_degree=actor.groups.tp_size,
        pipeline_degree=actor.groups.pp_size,
        dtype=dtype_name(actor.dtype),
    )


def rng_tracker_states() -> dict[str, torch.Tensor]:
    """Megatron's model-parallel RNG streams (dropout inside TP regions); they differ between TP ranks."""
    from megatron.core.tensor_parallel.random import get_cuda_rng_tracker

    return {name: state.clone() for name, state in get_cuda_rng_tracker().get_states().items()}


def set_rng_tracker_states(states: dict[str, torch.Tensor]) -> None:
    from megatron.core.tensor_parallel.random import get_cuda_rng_tracker

    get_cuda_rng_tracker().set_states(dict(states))


def _sharded_state(actor: MegatronActor, *, loading: bool, with_optimizer: bool) -> dict[str, Any]:
    if with_optimizer and actor.optimizer is None:
        raise ValueError("this actor has no optimizer (trainable=False); it has no training state to save or load")
    model = actor.unwrapped.sharded_state_dict()
    if not with_optimizer:
        return {"model": model}
    _prime_native_adam_state(actor.optimizer)
    optimizer = actor.optimizer.sharded_state_dict(model, is_loading=loading, metadata=OPTIMIZER_METADATA)
    return {"model": model, "optimizer": optimizer}


def _native_adams(optimizer: Any) -> list[torch.optim.Optimizer]:
    """The plain ``torch.optim.Adam``/``AdamW`` inside Megatron's (chained) distributed optimizers."""
    from megatron.core.optimizer.distrib_optimizer import DistributedOptimizer

    parts = getattr(optimizer, "chained_optimizers", [optimizer])
    inner = [p.optimizer for p in parts if isinstance(p, DistributedOptimizer)]
    return [o for o in inner if type(o) in (torch.optim.Adam, torch.optim.AdamW)]


def _prime_native_adam_state(optimizer: Any) -> None:
    """Give a fresh torch Adam inside the distributed optimizer the state its first step would create.

    NOTE: megatron-core 0.16's ``DistributedOptimizer.state_dict`` reads each parameter's ``step`` when neither
    Transformer Engine's nor apex's fused Adam is installed (CPU machines, GPUs without them), and asserts on a
    fresh optimizer, whose torch Adam creates its state lazily at the first step. So a resume (which asks a fresh
    optimizer for its sharded state) and a save before any step both failed. The state set here (step 0, zero
    moments) is exactly what torch's ``Adam._init_group`` would create, so the first step is unchanged, and a
    load overwrites it anyway. Fused Adams keep ``step`` in their param groups and need none of this.
    """
    for adam in _native_adams(optimizer):
        for group in adam.param_groups:
            for param in group["params"]:
                if not adam.state[param]:
                    adam.state[param] = {
                        "step": torch.zeros((), dtype=torch.float32),
                        "exp_avg": torch.zeros_like(param, memory_format=torch.preserve_format),
                        "exp_avg_sq": torch.zeros_like(param, memory_format=torch.preserve_format),
                    }


def _restore_adam_steps(optimizer: Any) -> None:
    """Set every parameter's Adam ``step`` from its param group, where the checkpoint's step was loaded.

    NOTE: megatron-core 0.16's ``DistributedOptimizer.load_state_dict`` (native torch Adam) restores ``step``
    from the checkpoint's param groups, then loads the ``dp_reshardable`` parameter state, where ``step`` is a
    non-persistent object: the value the *request* held (this fresh optimizer's 0) is copied back over it.
    The resumed run would then redo Adam's bias correction from step 1. It also puts one shared ``step`` tensor
    into every parameter's state, which torch's foreach Adam would advance once per parameter per step. Each
    parameter gets its own tensor with the saved step, torch's own layout.
    """
    for adam in _native_adams(optimizer):
        for group in adam.param_groups:
            if "step" not in group:
                continue
            for param in group["params"]:
                adam.state[param]["step"] = torch.tensor(float(group["step"]), dtype=torch.float32)


def _raise_on_mismatch(folder: Path, missing: set[str], unexpected: set[str], fix: str) -> None:
    """``InputError`` on every rank if any rank found keys the checkpoint lacks, or the checkpoint has extra."""
    import torch.distributed as dist

    gathered: list[set[str] | None] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, unexpected)
    lacking = sorted(set().union(*gathered))
    if not lacking and not missing:
        return
    problems = [f"it lacks {_some(lacking)}"] if lacking else []
    problems += [f"it has {_some(sorted(missing))}, which this actor does not"] if missing else []
    raise InputError(f"checkpoint {folder} does not fit this actor: {'; '.join(problems)}; {fix}")


def _some(keys: list[str]) -> str:
    shown = ", ".join(keys[:3])
    return f"{shown} and {len(keys) - 3} more" if len(keys) > 3 else shown
