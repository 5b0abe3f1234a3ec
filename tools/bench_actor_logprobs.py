"""Benchmark: the Megatron actor's log-prob pass with each prompt's image encoded once vs once per sample.

    python tools/bench_actor_logprobs.py --model examples/demo_base_model --data runs/demo-data [--reps 3]

A GRPO batch holds G samples of every prompt; without sharing, the vision tower encodes the same image G times.
One demo batch (32 prompts x 8 samples, sampled by the local engine from ``--model``) is scored by
``MegatronActor.logprobs`` (TP=1, fp32, micro-batch 32) in one process, alternating the two variants rep by rep
after a warm-up; the variants differ only in ``SequenceBatch.image_keys`` (empty: no sharing). Reports the
median seconds, the ratio, and the largest log-prob difference between the two (they must agree).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import time

import torch


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="HF folder of a demo model")
    p.add_argument("--data", default="runs/demo-data", help="folder written by `megatron-mmupt demo-data`")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT="29571", RANK="0", WORLD_SIZE="1", LOCAL_RANK="0")

    from megatron_mmupt.actor.experience import collect_experience
    from megatron_mmupt.actor.megatron.actor import MegatronActor
    from megatron_mmupt.actor.megatron.distributed import init_parallel
    from megatron_mmupt.recipes import resolve_run_config
    from megatron_mmupt.rollout.local.engine import LocalEngine

    config = resolve_run_config(
        "demo",
        [f"actor.model={args.model}", f"data.processor={args.data}/processor",
         f"data.source.path={args.data}/train.parquet"],
    )  # fmt: skip
    prompts = config.data.build()
    batch = prompts.next_batch()
    engine = LocalEngine(dataclasses.replace(config.rollout.local, model_path=args.model))
    groups = engine.generate(batch, config.rollout.sampling)
    reward = config.reward.build()
    experience = collect_experience(
        batch, groups, reward.score_groups(groups), pad_token_id=prompts.processors.pad_token_id
    )
    reward.close()
    actor = MegatronActor(config.actor, groups=init_parallel(config.actor.parallel), algorithm=config.algorithm)
    variants = {"shared": experience.sequences, "per sample": dataclasses.replace(experience.sequences, image_keys=())}
    times: dict[str, list[float]] = {name: [] for name in variants}
    outputs = {name: actor.logprobs(seqs) for name, seqs in variants.items()}  # warm-up
    for _ in range(args.reps):
        for name, seqs in variants.items():
            start = time.perf_counter()
            actor.logprobs(seqs)
            times[name].append(time.perf_counter() - start)
    mask = experience.sequences.response_mask
    diff = float((outputs["shared"] - outputs["per sample"]).abs()[mask].max())
    shape = tuple(experience.sequences.input_ids.shape)
    print(f"{len(batch)} prompts x {config.rollout.sampling.n} samples, sequences {shape}, max |diff| {diff:.2e}")
    print("| images encoded | seconds (median) | vs per sample |\n|---|---|---|")
    base = statistics.median(times["per sample"])
    for name, values in times.items():
        print(f"| {name} | {statistics.median(values):.3f} | {statistics.median(values) / base:.2f}x |")


if __name__ == "__main__":
    main()
