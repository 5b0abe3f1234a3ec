"""The Megatron-Core actor of one rank: log-probs of sampled sequences, and GRPO updates.

One instance per rank of the actor's process group (TP x PP x DP). The driver hands every rank the same
``SequenceBatch`` and ``TrainBatch``; each DP replica takes its share of the rows, micro-batches go through
Megatron's pipeline schedule, and the loss of each micro-batch is the algorithm stage's
``policy_objective`` with the *global* normalizer, so that summing micro-batches and DP replicas gives the
full-batch loss exactly. Megatron divides a micro-batch loss by the number of micro-batches and its DDP
averages gradients over DP ranks; both are undone here (multiplied back) because our normalizer already
accounts for them.

Devices: the actor owns ``self.device`` (``cuda:<local rank>`` on GPUs). Every model it builds (policy,
frozen reference, frozen vision tower) is moved there once built and loaded, and every tensor that enters a
model or the loss passes ``_to_device`` once (per micro-batch), result buffers are made on the device before
their collectives, and results leave in host memory: log-probs as a CPU tensor, metrics as Python floats.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from typing import Any

import torch
import torch.distributed as dist

from megatron_mmupt.actor.config import ActorConfig, OptimizerConfig
from megatron_mmupt.actor.megatron.distributed import ParallelGroups, local_device
from megatron_mmupt.actor.megatron.model_provider import build_model, load_hf_config, move_to_device
from megatron_mmupt.actor.megatron.offload import DeviceOffload, StateGroup
from megatron_mmupt.actor.megatron.qwen2_5_vl import reduce_replicated_grads
from megatron_mmupt.actor.megatron.specs import resolve_spec
from megatron_mmupt.actor.sequences import SequenceBatch
from megatron_mmupt.algorithm.config import AlgorithmConfig
from megatron_mmupt.algorithm.logprobs import token_logprobs_and_entropy
from megatron_mmupt.algorithm.objective import policy_objective
from megatron_mmupt.algorithm.types import LossNormalizer, TrainBatch
from megatron_mmupt.bridge.hf_checkpoint import HFCheckpoint
from megatron_mmupt.bridge.importer import load_hf_weights
from megatron_mmupt.config.configurable import Configurable

__all__ = ["ActorConfig", "MegatronActor", "OptimizerConfig"]

_PADDED_VOCAB_LOGIT = -1.0e4  # exp() of it is exactly 0 in fp32 and bf16, unlike -inf it keeps the math finite


class MegatronActor(Configurable):
    Config = ActorConfig

    def __init__(
        self, config: Config, *, groups: ParallelGroups, algorithm: AlgorithmConfig, trainable: bool = True
    ) -> None:
        """``trainable=False`` builds a frozen copy (the KL reference): no DDP, no optimizer, log-probs only."""
        self.config, self.groups, self.algorithm = config, groups, algorithm
        self.device = local_device()
        self.hf_config = load_hf_config(config.model)
        self.spec = resolve_spec(config.spec)
        self.dtype = _dtype(config.params_dtype)
        model = build_model(
            self.hf_config, config.parallel, groups, params_dtype=self.dtype, spec=self.spec, recompute=config.recompute
        )
        self.hf_vocab = _text(self.hf_config).vocab_size
        self._load(model)
        if config.freeze_vision and model.visual is not None:
            model.visual.requires_grad_(False)
        model = move_to_device(model, self.device)  # built and loaded in host memory (config_bridge)
        if trainable:
            self.model, self.optimizer = _wrap(model, config, groups, self.dtype)
        else:
            self.model, self.optimizer = _frozen(model, self.dtype), None
        self.memory = DeviceOffload()

    def _load(self, model: torch.nn.Module) -> None:
        layers = _text(self.hf_config).num_hidden_layers
        load_hf_weights(
            model,
            HFCheckpoint(self.config.model),
            self.hf_config,
            spec=self.spec,
            tp_rank=self.groups.tp_rank,
            tp_size=self.groups.tp_size,
            layer_offset=self.groups.pp_rank * layers // self.groups.pp_size,
        )

    @property
    def unwrapped(self) -> torch.nn.Module:
        """The ``Qwen2_5_VLModel`` inside Megatron's DDP and ``Float16Module`` wrappers (for export, checkpoints)."""
        from megatron.core.distributed import DistributedDataParallel
        from megatron.core.transformer.module import Float16Module

        model = self.model
        while isinstance(model, (DistributedDataParallel, Float16Module)):
            model = model.module
        return model

    # --- device memory (colocated runs) --------------------------------------------------------------

    def offload(self, groups: Iterable[StateGroup]) -> int:
        """Free this rank's device memory of ``groups`` (weights and optimizer state go to host memory, gradient
        buffers are dropped), so colocated engines can use it; returns the bytes freed."""
        freed = 0
        for group in groups:
            keep = group is not StateGroup.GRADS
            freed += self.memory.offload(group, self._state_tensors(StateGroup(group)), keep=keep)
        return freed

    def onload(self) -> int:
        """Everything ``offload`` freed, back on the device bit for bit (gradient buffers as zeros)."""
        return self.memory.onload()

    def _state_tensors(self, group: StateGroup) -> list[torch.Tensor]:
        if group is StateGroup.WEIGHTS:
            return [*self.unwrapped.parameters(), *self.unwrapped.buffers()]  # (DDP.buffers is its grad buffer list)
        if group is StateGroup.GRADS:
            return _grad_buffers(self.model)
        return _optimizer_tensors(self.optimizer, device=self.device)

    def _check_on_device(self) -> None:
        if self.memory.offloaded:
            names = ", ".join(g.value for g in self.memory.offloaded)
            raise RuntimeError(f"the actor's {names} are offloaded (colocated rollout); call onload() first")

    # --- log-probs ---------------------------------------------------------------------------------

    @torch.no_grad()
    def logprobs(self, sequences: SequenceBatch, temperature: float = 1.0) -> torch.Tensor:
        """``(N, L - 1)`` log-probs of every target token (use ``response_mask``), on every rank, in host memory."""
        self._check_on_device()
        self.model.eval()
        # (N, L - 1) result buffer on the device: the PP broadcast and DP all-reduce run on NCCL there.
        out = torch.zeros(sequences.response_mask.shape, dtype=torch.float32, device=self.device)

        def loss(micro: _MicroBatch):
            def fn(output: torch.Tensor, non_loss_data: bool = True) -> torch.Tensor:
                # Rows beyond len(micro.rows) are the padding of a short last micro-batch.
                logprobs, _ = self._token_logprobs(output[: len(micro.rows)], micro.targets, temperature, False)
                out[micro.rows] = logprobs.float()  # this rank's rows; _share fills in the others
                return logprobs

            return fn

        self._run(sequences, self._my_rows(sequences.num_rows), loss, forward_only=True)
        return self._share(out).cpu()

    def _share(self, local: torch.Tensor) -> torch.Tensor:
        # Last stage -> every stage (PP), then each DP replica's rows -> every replica (DP).
        if self.groups.pp_size > 1:
            source = dist.get_global_rank(self.groups.pp_group, self.groups.pp_size - 1)
            dist.broadcast(local, src=source, group=self.groups.pp_group)
        if self.groups.dp_size > 1:
            dist.all_reduce(local, group=self.groups.dp_group)  # rows are disjoint across replicas: a sum merges
        return local

    # --- training ----------------------------------------------------------------------------------

    def train_step(self, sequences: SequenceBatch, batch: TrainBatch, temperature: float = 1.0) -> dict[str, float]:
        """One optimizer update on ``batch`` (rows = ``batch.sample_ids`` of ``sequences``); returns metrics."""
        if self.optimizer is None:
            raise RuntimeError("this MegatronActor was built with trainable=False (a frozen reference)")
        self._check_on_device()
        self.model.train()
        self.model.zero_grad_buffer()
        self.optimizer.zero_grad()
        normalizer = LossNormalizer.from_mask(batch.response_mask)  # every rank holds the whole batch
        positions = self._my_rows(batch.num_samples)
        metrics: list[dict[str, torch.Tensor]] = []
        scale = len(_chunks(positions, self._micro_size(len(positions)))) * self.groups.dp_size

        def loss(micro: _MicroBatch):
            def fn(output: torch.Tensor):
                logprobs, entropy = self._token_logprobs(output[: len(micro.rows)], micro.targets, temperature, True)
                value, step_metrics = policy_objective(
                    logprobs, micro.train, self.algorithm, normalizer=normalizer, entropy=entropy
                )
                metrics.append(step_metrics)
                return value * scale, step_metrics

            return fn

        self._run(sequences, positions, loss, forward_only=False, batch=batch)
        updated, grad_norm, _ = self.optimizer.step()
        summary = _average(metrics)  # Python floats, for the driver
        summary.update({"actor/grad_norm": float(grad_norm or 0.0), "actor/update_skipped": float(not updated)})
        return summary

    def _token_logprobs(
        self, logits: torch.Tensor, targets: torch.Tensor, temperature: float, with_entropy: bool
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        logits = self._mask_padded_vocab(logits[:, :-1])  # (B, L - 1, V/tp): column t predicts token t + 1
        return token_logprobs_and_entropy(
            logits,
            targets,
            tp_group=self.groups.tp_group if self.groups.tp_size > 1 else None,
            temperature=temperature,
            with_entropy=with_entropy,
        )

    def _mask_padded_vocab(self, logits: torch.Tensor) -> torch.Tensor:
        # Megatron pads the vocabulary beyond the checkpoint's; those columns must not take probability mass.
        local = logits.shape[-1]
        start = self.groups.tp_rank * local
        if start + local <= self.hf_vocab:
            return logits
        padded = torch.arange(start, start + local, device=logits.device) >= self.hf_vocab
        return logits.masked_fill(padded, _PADDED_VOCAB_LOGIT)

    def _run(self, sequences: SequenceBatch, positions: list[int], loss_for, *, forward_only: bool, batch=None) -> None:
        """Micro-batches of ``positions`` (rows, or positions in ``batch``) through the pipeline schedule."""
        from megatron.core.pipeline_parallel import get_forward_backward_func

        size = self._micro_size(len(positions))

        def step(data: Iterator[_MicroBatch], chunk: torch.nn.Module):
            micro = next(data)
            return chunk(**micro.inputs), loss_for(micro)

        get_forward_backward_func()(
            forward_step_func=step,
            data_iterator=self._micro_batches(sequences, positions, size, batch),
            model=[self.model],
            num_microbatches=len(_chunks(positions, size)),
            seq_length=sequences.input_ids.shape[1],
            micro_batch_size=size,
            forward_only=forward_only,
            collect_non_loss_data=forward_only,
        )

    def _micro_batches(
        self, sequences: SequenceBatch, positions: list[int], size: int, batch: TrainBatch | None
    ) -> Iterator[_MicroBatch]:
        """Each micro-batch's model inputs, targets and train-batch rows, moved to the device when the schedule
        asks for it (so only the micro-batches in flight take device memory)."""
        for chunk in _chunks(positions, size):
            rows = batch.sample_ids[chunk].tolist() if batch is not None else chunk
            inputs = _padded_inputs(sequences, rows, size, images=self.groups.is_first_stage)
            train = batch.select(torch.tensor(chunk)) if batch is not None else None
            yield _MicroBatch(
                rows=rows,
                inputs=self._to_device(inputs),
                targets=self._to_device(sequences.targets[rows]),
                train=self._to_device(train),
            )

    def _to_device(self, value: Any) -> Any:
        """The one place data enters the actor's device: model inputs, targets, masks, advantages, old and
        reference log-probs (a ``TrainBatch``). Tensors, dicts of them, ``TrainBatch``, ``None``."""
        if isinstance(value, torch.Tensor):
            return value.to(self.device, non_blocking=True)
        if isinstance(value, dict):
            return {key: self._to_device(item) for key, item in value.items()}
        if isinstance(value, TrainBatch):
            fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
            moved = {k: self._to_device(v) for k, v in fields.items() if isinstance(v, torch.Tensor)}
            return dataclasses.replace(value, **moved)
        if value is None:
            return None
        raise TypeError(f"cannot move a {type(value).__name__} to the actor's device")

    def _micro_size(self, num_rows: int) -> int:
        """Rows per micro-batch: the configured size, or fewer when this rank has fewer rows (no padding waste)."""
        return max(1, min(self.config.micro_batch_size, num_rows))

    def _my_rows(self, num_rows: int) -> list[int]:
        """This DP replica's share of ``range(num_rows)`` (strided, so replicas get balanced lengths)."""
        return list(range(self.groups.dp_rank, num_rows, self.groups.dp_size))


@dataclasses.dataclass(frozen=True, slots=True)
class _MicroBatch:
    """One micro-batch, its tensors on the actor's device."""

    rows: list[int]
    """Rows of the ``SequenceBatch`` (the model inputs repeat the first one up to the micro-batch size)."""
    inputs: dict[str, Any]
    """The model's keyword arguments: ``input_ids (B, L)``, ``position_ids (3, B, L)``, images (first stage)."""
    targets: torch.Tensor
    """``(len(rows), L - 1)`` the tokens the logits predict."""
    train: TrainBatch | None
    """The train-batch rows of ``rows`` (advantages, masks, old / reference log-probs); ``None`` for log-probs."""


def _padded_inputs(sequences: SequenceBatch, rows: list[int], size: int, *, images: bool) -> dict[str, Any]:
    # The pipeline needs equal (micro_batch_size, L) micro-batches: repeat the first row; its outputs are cut.
    padded_rows = rows + [rows[0]] * (size - len(rows))
    inputs = sequences.model_inputs(padded_rows, share_images=True)
    if images:
        return inputs
    return {"input_ids": inputs["input_ids"], "position_ids": inputs["position_ids"]}  # no vision tower here


def _chunks(items: list[int], size: int) -> list[list[int]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _average(metrics: list[dict[str, torch.Tensor]]) -> dict[str, float]:
    keys = sorted({k for m in metrics for k in m})
    return {k: float(torch.stack([m[k].float() for m in metrics if k in m]).mean()) for k in keys}


def _grad_buffers(model: torch.nn.Module) -> list[torch.Tensor]:
    """DDP's contiguous gradient buffers (every ``main_grad`` is a view into one); none for a frozen model."""
    buffers = [*getattr(model, "buffers", []), *getattr(model, "expert_parallel_buffers", [])]
    grads = [b.grad_data for b in buffers if not callable(b) and getattr(b, "grad_data", None) is not None]
    return grads + [p.grad for p in model.parameters() if p.grad is not None]


def _optimizer_tensors(optimizer: Any, *, device: torch.device) -> list[torch.Tensor]:
    """Adam's state and the parameters the optimizer updates (fp32 master copies), on the model's device."""
    if optimizer is None:
        return []
    tensors = []
    for part in getattr(optimizer, "chained_optimizers", [optimizer]):
        inner = part.optimizer
        tensors += [p for group in inner.param_groups for p in group["params"]]
        tensors += [v for state in inner.state.values() for v in state.values() if isinstance(v, torch.Tensor)]
    return [t for t in tensors if t.device == device]


def _text(hf_config: Any) -> Any:
    return getattr(hf_config, "text_config", None) or hf_config


def _dtype(name: str) -> torch.dtype:
    if name == "auto":
        return torch.bfloat16 if torch.cuda.is_available() else torch.float32
    return {"fp32": torch.float32, "bf16": torch.bfloat16}[name]


def _frozen(model: torch.nn.Module, dtype: torch.dtype) -> torch.nn.Module:
    from megatron.core.transformer.module import Float16Module

    model.requires_grad_(False)
    return model if dtype == torch.float32 else Float16Module(model.config, model)


def _wrap(model: torch.nn.Module, config: MegatronActor.Config, groups: ParallelGroups, dtype: torch.dtype):
    """Megatron DDP + optimizer; the vision tower's gradients are averaged over TP after DDP's reduction."""
    from megatron.core.distributed import DistributedDataParallel, DistributedDataParallelConfig, finalize_model_grads
    from megatron.core.optimizer import OptimizerConfig as MegatronOptimizerConfig
    from megatron.core.optimizer import get_megatron_optimizer
    from megatron.core.transformer.module import Float16Module

    megatron_config = model.config
    if dtype != torch.float32:
        model = Float16Module(megatron_config, model)
    ddp_config = DistributedDataParallelConfig(
        grad_reduce_in_fp32=True, use_distributed_optimizer=config.distributed_optimizer
    )
    ddp = DistributedDataParallel(megatron_config, ddp_config, model)

    def finalize(models: list[torch.nn.Module], *args: Any, **kwargs: Any) -> None:
        finalize_model_grads(models, *args, **kwargs)
        reduce_replicated_grads(models[0], groups.tp_group)

    megatron_config.finalize_model_grads_func = finalize
    opt = config.optimizer
    optimizer = get_megatron_optimizer(
        MegatronOptimizerConfig(
            optimizer="adam", lr=opt.lr, weight_decay=opt.weight_decay, adam_beta1=opt.adam_beta1,
            adam_beta2=opt.adam_beta2, adam_eps=opt.adam_eps, clip_grad=opt.clip_grad,
            bf16=dtype == torch.bfloat16, params_dtype=dtype, use_distributed_optimizer=config.distributed_optimizer,
        ),
        [ddp],
    )  # fmt: skip
    return ddp, optimizer
