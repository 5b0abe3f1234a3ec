"""Probe: is the demo task learnable by a tiny Qwen2.5-VL on CPU, and does voting beat sampling?

    megatron-mmupt demo-data --out runs/demo_data
    python tools/probe_demo_task.py --data runs/demo_data --steps 2000 --eval-at 1000 --report runs/probe.json

1. Build a tiny ``Qwen2_5_VLForConditionalGeneration`` (transformers; text 128 x 2 layers, vision 64 x 2
   layers, ~0.8 M parameters) whose vocabulary and vision token ids come from the dataset's processor folder.
2. SFT on the ``solution`` column (``megatron_mmupt.demo.sft``): prompts as the data stage encodes
   them (chat template, image tokens, 3-D rope ids); loss on the response and ``<|im_end|>`` only. AdamW,
   warm-up then cosine decay.
3. On the test split: greedy accuracy, pass@1 (mean correctness of 8 samples at ``--temperature``) and maj@8
   (the voted answer's correctness), scored by the reward stage (``RewardStage``: boxed extraction,
   equivalence classes, majority vote), overall, per question type and per difficulty; at the last step
   and at the ``--eval-at`` steps (a learning curve from one run). Samples are drawn by the local rollout
   engine, which is given the current weights at every evaluation (``update_weights``).

Sampling suppresses every added token except ``<|im_end|>`` (a sampled ``<|image_pad|>`` would break the
next forward pass) and the padding rows of the embedding (the engine's token policy). Nothing is
hard-coded: the figures are what this run measured. ``tools/make_demo_model.py`` writes such a model as
the demo's base model.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from megatron_mmupt.data.processing import load_processors
from megatron_mmupt.demo.sft import EvalConfig, SFTConfig, evaluate, figures_table, load_split, mean_tail, sft
from megatron_mmupt.models.tiny_qwen2_5_vl import create_model_folder
from megatron_mmupt.rollout.local.engine import LocalEngine


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True, help="folder written by `megatron-mmupt demo-data`")
    p.add_argument("--steps", type=int, default=2000, help="SFT steps (batch --batch-size)")
    p.add_argument("--eval-at", default="", help="comma-separated earlier steps to evaluate at too (e.g. 1000)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--num-eval", type=int, default=1000, help="test problems to evaluate (from the start)")
    p.add_argument("--samples", type=int, default=8, help="samples per problem (k of maj@k)")
    p.add_argument("--temperature", type=float, default=1.0, help="sampling temperature of the evaluation")
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--report", type=Path, help="write the figures as JSON here")
    return p.parse_args()


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    processors = load_processors(args.data / "processor")
    train = load_split(args.data, "train", processors)
    test = load_split(args.data, "test", processors, limit=args.num_eval)
    with tempfile.TemporaryDirectory() as tmp:
        # The engine serves the model being trained: built from its initial folder, then given its weights.
        folder = create_model_folder(Path(tmp) / "model", args.data / "processor", seed=args.seed)
        engine = LocalEngine.Config(model_path=str(folder), device="cpu").build()
    model = engine.model
    num_params = sum(p.numel() for p in model.parameters())
    print(f"{num_params / 1e6:.2f} M parameters; {len(train)} train / {len(test)} test problems")
    eval_steps = {int(x) for x in args.eval_at.split(",") if x} | {args.steps}
    eval_config = EvalConfig(samples=args.samples, temperature=args.temperature, max_new_tokens=args.max_new_tokens)
    evaluations, clock = [], {"train": 0.0, "start": time.perf_counter()}

    def on_step(step: int, losses: list[float]) -> None:
        if step not in eval_steps:
            return
        clock["train"] += time.perf_counter() - clock["start"]
        t0 = time.perf_counter()
        model.eval()
        figures = evaluate(engine, test, eval_config)
        evaluations.append({"step": step, "sft_seconds": clock["train"], "eval_seconds": time.perf_counter() - t0,
                            "loss": mean_tail(losses), "figures": figures})  # fmt: skip
        print_table(evaluations[-1])
        clock["start"] = time.perf_counter()

    # The engine's model is trained in place: its weights are the current ones at every evaluation.
    config = SFTConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed)
    sft(model, train, config, processors.pad_token_id, on_step, log=lambda line: print(line, flush=True))
    if args.report:
        report = {"args": {k: str(v) for k, v in vars(args).items()}, "num_params": num_params,
                  "evaluations": evaluations}  # fmt: skip
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(json.dumps(report, indent=2) + "\n")


def print_table(evaluation: dict) -> None:
    print(
        f"\nafter {evaluation['step']} SFT steps ({evaluation['sft_seconds']:.0f} s, loss {evaluation['loss']:.3f}); "
        f"eval {evaluation['eval_seconds']:.0f} s\n"
    )
    print(figures_table(evaluation["figures"]), flush=True)


if __name__ == "__main__":
    main()
