"""Save and resume a training run: the actor's model + optimizer, the caller's trainer state, every rank's RNG.

Both functions are collective: every rank of the actor calls them with the same arguments. Megatron's
``dist_checkpointing`` works on the default process group, so the actor's ranks must be the whole world (as
they are in ``ActorWorker``). The checkpoint directory must be one file system that every rank sees.

Save, in order (see ``layout`` for the folder, ``commit`` for why a crash never loses ``latest``):

1. rank 0 deletes stale temporaries and creates a hidden staging folder ``.step_00000N.tmp-<id>``;
2. every rank writes its model and optimizer shards (Megatron ``dist_checkpointing``), then its RNG file;
3. rank 0 writes the trainer state, the bridge metadata (``mmupt_bridge.json`` + ``hf_files/``: ``megatron-mmupt
   convert mcore-to-hf`` reads the folder), and last the manifest; renames the folder to ``step_00000N``;
   atomically points ``latest`` at it; deletes checkpoints beyond the newest ``keep_last``.

Each step ends with an exchange between the ranks (``call_collectively``): a failure on any rank raises on every
rank instead of leaving the others waiting. A failed save leaves its staging folder; the next save deletes it.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch.distributed as dist

from megatron_mmupt.actor.megatron.actor import MegatronActor
from megatron_mmupt.actor.megatron.dist_state import (
    checkpoint_metadata,
    load_actor_state,
    rng_tracker_states,
    save_actor_state,
    set_rng_tracker_states,
)
from megatron_mmupt.bridge.convert.metadata import HF_FILES_DIR, CheckpointMetadata
from megatron_mmupt.bridge.convert.session import call_collectively
from megatron_mmupt.bridge.hf_writer import copy_tokenizer_files
from megatron_mmupt.checkpoint import commit
from megatron_mmupt.checkpoint.compat import check_same_model
from megatron_mmupt.checkpoint.layout import (
    TRAINER_STATE_FILE,
    Manifest,
    rng_file,
    step_name,
    temporary_name,
)
from megatron_mmupt.checkpoint.pointer import resolve_checkpoint
from megatron_mmupt.checkpoint.retention import prune, remove_temporaries
from megatron_mmupt.checkpoint.rng import capture_rng_state, restore_rng_state
from megatron_mmupt.checkpoint.state_file import check_plain, read_state_file, write_state_file
from megatron_mmupt.utils.atomic import fsync_dir


def save_checkpoint(
    directory: str | Path, step: int, actor: MegatronActor, trainer_state: dict[str, Any], *, keep_last: int
) -> Path:
    """Save ``step`` into ``directory/step_00000N`` and point ``directory/latest`` at it; return the folder.

    ``trainer_state``: what the caller needs to resume (prompt-pipeline ``state_dict()``, metrics history, the
    driver's ``capture_rng_state()``, ...), plain dicts/lists/scalars/tensors, the same on every rank. Its
    ``step``, if given, must equal ``step``. Each rank's RNG states are captured here.
    """
    check_plain(trainer_state)
    if actor.optimizer is None:
        raise ValueError("this actor has no optimizer (trainable=False): save the policy, not a frozen copy")
    if trainer_state.get("step", step) != step:
        raise ValueError(f"trainer_state['step']={trainer_state['step']} but the checkpoint is for step {step}")
    if keep_last < 1:
        raise ValueError(f"keep_last must be >= 1, got {keep_last}")
    directory, rank, rng = Path(directory), dist.get_rank(), _rng_states()  # the states as of the call
    name = [temporary_name(step)]
    dist.broadcast_object_list(name, src=0)  # one staging name for every rank
    staging, final = directory / name[0], directory / step_name(step)
    call_collectively(lambda: _prepare(directory, staging) if rank == 0 else None, "checkpoint save")
    save_actor_state(actor, staging)
    call_collectively(lambda: write_state_file(staging / rng_file(rank), rng), "checkpoint save")
    manifest = Manifest(
        step=step, world_size=dist.get_world_size(), tensor_degree=actor.groups.tp_size,
        pipeline_degree=actor.groups.pp_size, data_degree=actor.groups.dp_size,
    )  # fmt: skip
    metadata, state = checkpoint_metadata(actor), {**trainer_state, "step": step}

    def finish() -> None:
        if rank == 0:
            _commit(staging, final, manifest, metadata, state, actor.config.model, keep_last)

    call_collectively(finish, "checkpoint save")
    return final


def load_checkpoint(path: str | Path, actor: MegatronActor, *, with_optimizer: bool = True) -> dict[str, Any]:
    """Restore ``actor`` (model, optimizer) and this rank's RNG states; return the trainer state (with ``step``).

    ``path``: a checkpoint folder, or a checkpoint directory (its ``latest``). The model and optimizer may have
    been saved at another TP/PP layout (Megatron reshards). ``with_optimizer=False`` loads the weights only.
    """
    rank = dist.get_rank()
    resolved = [call_collectively(lambda: resolve_checkpoint(path) if rank == 0 else None, "checkpoint load")]
    dist.broadcast_object_list(resolved, src=0)  # rank 0 reads `latest` once: every rank loads the same folder
    folder = resolved[0]
    metadata = CheckpointMetadata.read(folder)
    check_same_model(
        folder, metadata.hf_config_object(), actor.hf_config,
        saved_spec=metadata.spec, current_spec=actor.spec, model=actor.config.model,
    )  # fmt: skip
    load_actor_state(actor, folder, with_optimizer=with_optimizer)
    _restore_rng(folder, Manifest.read(folder), actor)
    return read_state_file(folder / TRAINER_STATE_FILE)


def _restore_rng(folder: Path, manifest: Manifest, actor: MegatronActor) -> None:
    """Rank r gets rank r's generators when the number of ranks is unchanged; Megatron's model-parallel
    streams (seeded per TP rank) only when the layout is unchanged too. Otherwise the draws of the resumed run
    differ from an uninterrupted run's (warned once)."""
    rank, groups = dist.get_rank(), actor.groups
    if manifest.world_size != dist.get_world_size():
        if rank == 0:
            warnings.warn(
                f"{folder} was saved by {manifest.world_size} ranks, this run has {dist.get_world_size()}: "
                "RNG states are not restored (random draws will differ from an uninterrupted run)",
                stacklevel=3,
            )
        return
    states = read_state_file(folder / rng_file(rank))
    restore_rng_state(states["process"])
    if (manifest.tensor_degree, manifest.pipeline_degree) == (groups.tp_size, groups.pp_size):
        set_rng_tracker_states(states["megatron"])


def _rng_states() -> dict[str, Any]:
    return {"process": capture_rng_state(), "megatron": rng_tracker_states()}


def _prepare(directory: Path, staging: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    remove_temporaries(directory)  # a crashed save's space is freed before writing a new one
    staging.mkdir()


def _commit(
    staging: Path,
    final: Path,
    manifest: Manifest,
    metadata: CheckpointMetadata,
    trainer_state: dict[str, Any],
    model_dir: str,
    keep_last: int,
) -> None:
    write_state_file(staging / TRAINER_STATE_FILE, trainer_state)
    metadata.write(staging)
    (staging / HF_FILES_DIR).mkdir()
    copy_tokenizer_files(model_dir, staging / HF_FILES_DIR)
    fsync_dir(staging / HF_FILES_DIR)
    manifest.write(staging)  # last: from here on the folder is complete
    fsync_dir(staging)
    commit.publish(staging, final)
    try:
        prune(final.parent, keep_last)
    except OSError as e:  # the new checkpoint is safe; failing the run over old ones would be worse
        warnings.warn(f"could not delete old checkpoints in {final.parent}: {e}", stacklevel=2)
