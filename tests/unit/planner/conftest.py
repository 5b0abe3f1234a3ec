"""A small made-up model and run whose memory the planner tests compute by hand."""

import pytest

from megatron_mmupt.config.overrides import apply_overrides
from megatron_mmupt.planner.model_shape import ModelShape, TextShape, VisionShape
from megatron_mmupt.recipes import load_recipe

SMALL_TEXT = TextShape(
    num_layers=4, hidden_size=8, intermediate_size=16, num_attention_heads=4, num_key_value_heads=2,
    vocab_size=100, head_dim=2, tie_word_embeddings=False,
)  # fmt: skip
SMALL_VISION = VisionShape(
    depth=2, hidden_size=4, intermediate_size=6, num_heads=2, out_hidden_size=8, gated_mlp=True, norm_bias=False,
    patch_size=2, spatial_merge_size=2, temporal_patch_size=2, in_channels=3,
)  # fmt: skip
SMALL = ModelShape(name="small", text=SMALL_TEXT, vision=SMALL_VISION, source="test")

SMALL_RUN = [
    # sequences of 6 + 4 = 10 tokens; 8 prompts x 4 samples, 2 optimizer steps -> 16 sequences per step
    "data.prompt.max_prompt_tokens=6", "rollout.sampling.max_new_tokens=4", "rollout.sampling.n=4",
    "data.sampler.batch_size=8", "trainer.updates_per_step=2", "data.images.min_pixels=16", "data.images.max_pixels=64",
    "actor.micro_batch_size=2", "actor.parallel.tensor_degree=2", "actor.parallel.pipeline_degree=2",
    "actor.parallel.make_vocab_size_divisible_by=4", "actor.params_dtype=bf16", "actor.spec=te",
    "actor.recompute=none", "actor.distributed_optimizer=false", "actor.freeze_vision=false",
    "algorithm.kl.coef=0.01", "rollout.engine=sglang", "rollout.sglang.tp_size=2",
    "rollout.sglang.mem_fraction_static=0.5", "rollout.sglang.context_length=null", "cluster.colocate=true",
    "trainer.world_size=8",
]  # fmt: skip


@pytest.fixture
def small():
    """The made-up model: h=8, MLP 16, 4 heads of 2, 2 KV heads, 4 layers, vocabulary 100; a 2-block vision tower."""
    return SMALL


@pytest.fixture
def small_run():
    """``small_run(*overrides)``: the 7B recipe cut down to the small model's run (see ``SMALL_RUN``)."""

    def make(*overrides: str):
        return apply_overrides(load_recipe("qwen2_5_vl_7b_mmr1"), [*SMALL_RUN, *overrides])

    return make
