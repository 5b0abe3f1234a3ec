"""One Megatron actor and its prompt pipeline on the demo data, for the distributed tests (in each rank).

``step()`` draws prompts from the pipeline, random responses and rewards (Python's, NumPy's and torch's
generators), and takes one optimizer step: so a resumed run must restore all of them to match a straight one.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

TEMPERATURE = 0.7


class ActorRun:
    """An actor and its prompt pipeline at one layout; ``step`` draws prompts, responses and rewards."""

    def __init__(
        self, model_dir: str, data_dir: str, tp: int, seed: int, freeze_vision: bool = False,
        distributed_optimizer: bool = False,
    ) -> None:  # fmt: skip
        from megatron_mmupt.actor.megatron.actor import MegatronActor, OptimizerConfig
        from megatron_mmupt.actor.megatron.distributed import init_parallel
        from megatron_mmupt.algorithm.config import AlgorithmConfig, KLConfig
        from megatron_mmupt.config.overrides import apply_overrides
        from megatron_mmupt.data.pipeline import PromptPipeline
        from megatron_mmupt.data.processing import load_processors
        from megatron_mmupt.parallel.config import ParallelConfig

        parallel = ParallelConfig(tensor_degree=tp)
        self.algorithm = AlgorithmConfig(kl=KLConfig(coef=0.0))
        config = MegatronActor.Config(
            model=model_dir, parallel=parallel, micro_batch_size=2, spec="local",
            optimizer=OptimizerConfig(lr=1e-3, clip_grad=1.0), freeze_vision=freeze_vision,
            distributed_optimizer=distributed_optimizer,
        )  # fmt: skip
        self.actor = config.build(groups=init_parallel(parallel), algorithm=self.algorithm)
        self.processors = load_processors(model_dir)
        data = [f"source.path={Path(data_dir) / 'train.parquet'}", "sampler.batch_size=2", "num_workers=0"]
        self.pipeline = apply_overrides(PromptPipeline.Config(), data).build(processors=self.processors)
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)

    def step(self) -> dict[str, float]:
        from megatron_mmupt.actor.sequences import build_sequences
        from megatron_mmupt.algorithm.batch import make_train_batch

        prompts = [p for p in self.pipeline.next_batch() for _ in range(2)]  # 2 prompts x 2 responses
        responses = [torch.randint(0, 300, (random.randint(3, 8),)).tolist() for _ in prompts]
        winners = np.random.randint(0, 2, size=2)  # the rewarded response of each group
        rewards = torch.tensor([float(i == w) for w in winners for i in range(2)])
        sequences = build_sequences(prompts, responses, self.processors.pad_token_id)
        batch, _ = make_train_batch(
            rewards=rewards, group_ids=torch.tensor([0, 0, 1, 1]), response_mask=sequences.response_mask,
            truncated=torch.zeros(4, dtype=torch.bool), cfg=self.algorithm,
            old_logprobs=self.actor.logprobs(sequences, TEMPERATURE),
        )  # fmt: skip
        return self.actor.train_step(sequences, batch, TEMPERATURE)

    def weights(self) -> dict[str, torch.Tensor]:
        state = self.actor.unwrapped.state_dict()
        return {k: v.detach().clone() for k, v in state.items() if isinstance(v, torch.Tensor)}

    def hf_weights(self) -> dict[str, torch.Tensor]:
        from megatron_mmupt.bridge.exporter import Receivers, iter_hf_buckets

        actor = self.actor
        buckets = iter_hf_buckets(
            actor.unwrapped, actor.hf_config, actor.groups, spec=actor.spec, bucket_bytes=1 << 20,
            receivers=Receivers.ALL,
        )  # fmt: skip
        return {name: tensor for bucket in buckets for name, tensor in bucket}
