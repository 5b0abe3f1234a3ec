"""The Megatron actor: log-probs against transformers, and one GRPO update, at TP=1, TP=2 and PP=2.

The updated models are compared through their log-probs on the same sequences: equal log-probs after the
update mean equal updates, whatever the layout or the micro-batching. A fifth run takes the GPU recipes' paths
at TP=2: bf16 with a frozen KL reference, a frozen vision tower, the distributed optimizer, and an offload /
onload round trip.

Every run is device-strict (``actor/megatron/device_strict/``): a tensor that enters the model, the loss or a
collective on the wrong device raises as it would on a GPU, so these CPU tests see device placement bugs.
"""

import dataclasses

import pytest
import torch

from megatron_mmupt.actor.megatron.actor import MegatronActor, OptimizerConfig
from megatron_mmupt.actor.megatron.distributed import init_parallel
from megatron_mmupt.actor.sequences import build_sequences
from megatron_mmupt.algorithm.batch import make_train_batch
from megatron_mmupt.algorithm.config import AlgorithmConfig, KLConfig
from megatron_mmupt.data.encoder import PromptEncoder
from megatron_mmupt.data.images import ImageConfig
from megatron_mmupt.data.processing import load_processors
from megatron_mmupt.data.prompt_renderer import PromptConfig
from megatron_mmupt.parallel.config import ParallelConfig

try:  # pytest's default "prepend" import mode puts this directory on sys.path
    from launch import run_distributed
except ImportError:  # importlib mode or a tests/ package
    from tests.distributed.launch import run_distributed

pytestmark = pytest.mark.distributed
TEMPERATURE = 0.7


def sequences(model_dir: str):
    """2 prompts (one with an image) x 2 sampled-looking responses of different lengths."""
    import io

    from PIL import Image

    from megatron_mmupt.data.types import Example

    processors = load_processors(model_dir)
    png = io.BytesIO()
    Image.new("RGB", (112, 112), (20, 120, 220)).save(png, format="PNG")
    encoder = PromptEncoder(processors, PromptConfig(), ImageConfig())
    with_image = encoder.encode(Example("a", "<image>How many squares?", images=(png.getvalue(),)))
    text_only = encoder.encode(Example("b", "What is 4 + 5?"))
    generator = torch.Generator().manual_seed(0)
    responses = [torch.randint(0, 400, (n,), generator=generator).tolist() for n in (7, 11, 5, 9)]
    prompts = [with_image, with_image, text_only, text_only]
    return build_sequences(prompts, responses, processors.pad_token_id), processors


def _actor_worker(rank, world_size, model_dir, tp, pp, micro_batch_size):
    parallel = ParallelConfig(tensor_degree=tp, pipeline_degree=pp)
    groups = init_parallel(parallel)
    algorithm = AlgorithmConfig(kl=KLConfig(coef=0.0))
    config = MegatronActor.Config(
        model=model_dir, parallel=parallel, micro_batch_size=micro_batch_size, spec="local",
        optimizer=OptimizerConfig(lr=1e-2, clip_grad=0.0),
    )  # fmt: skip
    actor = config.build(groups=groups, algorithm=algorithm)
    seqs, _ = sequences(model_dir)
    before = actor.logprobs(seqs, TEMPERATURE)
    batch, _ = make_train_batch(
        rewards=torch.tensor([1.0, 0.0, 0.0, 1.0]),
        group_ids=torch.tensor([0, 0, 1, 1]),
        response_mask=seqs.response_mask,
        truncated=torch.zeros(4, dtype=torch.bool),
        cfg=algorithm,
        old_logprobs=before,
    )
    metrics = actor.train_step(seqs, batch, TEMPERATURE)
    after = actor.logprobs(seqs, TEMPERATURE)
    devices = {str(actor.device), *(str(p.device) for p in actor.unwrapped.parameters())}
    return {"before": before, "after": after, "metrics": metrics, "devices": devices, "out": str(after.device)}


def _reference_worker(rank, world_size, model_dir):
    """TP=2, bf16: the policy (frozen vision tower, distributed optimizer) and its frozen KL reference."""
    from megatron_mmupt.actor.megatron.offload import StateGroup

    parallel = ParallelConfig(tensor_degree=2)
    groups = init_parallel(parallel)
    algorithm = AlgorithmConfig(kl=KLConfig(coef=0.1))
    config = MegatronActor.Config(
        model=model_dir, parallel=parallel, micro_batch_size=2, spec="local", params_dtype="bf16",
        freeze_vision=True, distributed_optimizer=True, optimizer=OptimizerConfig(lr=1e-2, clip_grad=1.0),
    )  # fmt: skip
    policy = config.build(groups=groups, algorithm=algorithm)
    reference = MegatronActor(config, groups=groups, algorithm=algorithm, trainable=False)
    seqs, _ = sequences(model_dir)
    old, ref = policy.logprobs(seqs, TEMPERATURE), reference.logprobs(seqs, TEMPERATURE)
    batch, _ = make_train_batch(
        rewards=torch.tensor([1.0, 0.0, 0.0, 1.0]), group_ids=torch.tensor([0, 0, 1, 1]),
        response_mask=seqs.response_mask, truncated=torch.zeros(4, dtype=torch.bool), cfg=algorithm,
        old_logprobs=old, ref_logprobs=ref,
    )  # fmt: skip
    vision = [p.detach().clone() for p in policy.unwrapped.visual.parameters()]
    metrics = policy.train_step(seqs, batch, TEMPERATURE)
    after = policy.logprobs(seqs, TEMPERATURE)
    freed = policy.offload(list(StateGroup)) + reference.offload([StateGroup.WEIGHTS])
    restored = policy.onload() + reference.onload()
    second = policy.train_step(seqs, dataclasses.replace(batch, old_logprobs=after), TEMPERATURE)
    vision_kept = all(torch.equal(a, b) for a, b in zip(vision, policy.unwrapped.visual.parameters(), strict=True))
    models = (policy.unwrapped, reference.unwrapped)  # vision towers included
    devices = {str(t.device) for m in models for t in (*m.parameters(), *m.buffers())}
    return {
        "old": old, "ref": ref, "after": after, "ref_after": reference.logprobs(seqs, TEMPERATURE),
        "metrics": metrics, "second": second, "freed": freed, "restored": restored, "vision_kept": vision_kept,
        "devices": devices,
    }  # fmt: skip


def reference_logprobs(model_dir: str) -> torch.Tensor:
    from transformers import Qwen2_5_VLForConditionalGeneration

    seqs, processors = sequences(model_dir)
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(model_dir, attn_implementation="eager").eval()
    rows = []
    with torch.no_grad():
        for i in range(seqs.num_rows):
            length = int(seqs.prompt_lengths[i] + seqs.response_lengths[i])
            inputs = seqs.model_inputs([i])
            ids = inputs["input_ids"][:, :length]
            logits = model(
                input_ids=ids,
                pixel_values=inputs["pixel_values"],
                image_grid_thw=inputs["image_grid_thw"],
                mm_token_type_ids=(ids == processors.image_token_id).int(),
            ).logits[0, :-1]
            logprobs = torch.log_softmax(logits / TEMPERATURE, dim=-1).gather(-1, ids[0, 1:, None])[:, 0]
            row = torch.zeros(seqs.response_mask.shape[1])
            row[: length - 1] = logprobs
            rows.append(row)
    return torch.stack(rows), seqs.response_mask


@pytest.fixture(scope="module")
def runs(tiny_model_dir):
    model = str(tiny_model_dir)
    strict = {"timeout": 240, "device_strict": True}
    return {
        "tp1": run_distributed(_actor_worker, 1, model, 1, 1, 4, **strict),
        "tp1_mbs1": run_distributed(_actor_worker, 1, model, 1, 1, 1, **strict),
        "tp2": run_distributed(_actor_worker, 2, model, 2, 1, 2, **strict),
        "pp2": run_distributed(_actor_worker, 2, model, 1, 2, 2, **strict),
    }


@pytest.fixture(scope="module")
def kl_run(tiny_model_dir):
    return run_distributed(_reference_worker, 2, str(tiny_model_dir), timeout=240, device_strict=True)


def test_logprobs_equal_transformers(runs, tiny_model_dir):
    reference, mask = reference_logprobs(str(tiny_model_dir))
    for name, ranks in runs.items():
        for rank in ranks:
            torch.testing.assert_close(rank["before"][mask], reference[mask], atol=1e-5, rtol=1e-5, msg=name)


def test_one_update_is_the_same_in_every_layout(runs):
    expected = runs["tp1"][0]["after"]
    assert not torch.equal(expected, runs["tp1"][0]["before"])  # the update changed the model
    for name in ("tp1_mbs1", "tp2", "pp2"):
        for rank in runs[name]:
            torch.testing.assert_close(rank["after"], expected, atol=2e-5, rtol=1e-4, msg=name)


def test_the_runs_were_device_strict(runs):
    # Under the strict shim the actor's device is the logical cuda:0; results come back in host memory.
    for name, ranks in runs.items():
        assert all(rank["devices"] == {"cuda:0"} and rank["out"] == "cpu" for rank in ranks), name


def test_the_update_favours_rewarded_samples(runs):
    before, after = runs["tp1"][0]["before"], runs["tp1"][0]["after"]
    gain = (after - before).sum(dim=1)  # change of each response's total log-prob
    assert gain[0] > gain[1] and gain[3] > gain[2]  # rewarded (1.0) vs unrewarded (0.0) in each group
    metrics = runs["tp1"][0]["metrics"]
    assert metrics["actor/grad_norm"] > 0 and metrics["actor/update_skipped"] == 0.0
    assert all(torch.isfinite(torch.tensor(v)) for v in metrics.values())


def test_kl_reference_frozen_vision_and_offload(kl_run):
    for rank in kl_run:
        assert torch.equal(rank["old"], rank["ref"])  # the reference starts as the policy
        assert torch.equal(rank["ref_after"], rank["ref"])  # and stays frozen through the update
        assert not torch.equal(rank["after"], rank["old"]) and rank["vision_kept"]
        assert rank["freed"] == rank["restored"] > 0 and rank["devices"] == {"cuda:0"}
        for metrics in (rank["metrics"], rank["second"]):
            assert metrics["actor/update_skipped"] == 0.0 and "kl/mean" in metrics
            assert all(isinstance(v, float) and torch.isfinite(torch.tensor(v)) for v in metrics.values())
