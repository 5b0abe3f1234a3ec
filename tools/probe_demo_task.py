"""Probe: is the demo task learnable by a tiny Qwen2.5-VL on CPU, and does voting beat sampling?

    megatron-mmupt demo-data --out runs/demo_data
    python tools/probe_demo_task.py --data runs/demo_data --steps 2000 --eval-at 1000 --report runs/probe.json

1. Build a tiny ``Qwen2_5_VLForConditionalGeneration`` (transformers; text 128 x 2 layers, vision 64 x 2
   layers, ~0.8 M parameters) whose vocabulary and vision token ids come from the dataset's processor folder.
2. SFT on the ``solution`` column: prompt = the Qwen2.5-VL chat template around ``<image>`` + question + the
   MM-UPT instruction; loss on the response and ``<|im_end|>`` only. AdamW, warm-up then cosine decay.
3. On the test split: greedy accuracy, pass@1 (mean correctness of 8 samples at temperature 1) and maj@8
   (the voted answer's correctness), scored by the reward stage (``RewardStage``: boxed extraction,
   equivalence classes, majority vote), overall, per question type and per difficulty; at the last step
   and at the ``--eval-at`` steps (a learning curve from one run).

Sampling suppresses every added token except ``<|im_end|>`` (a sampled ``<|image_pad|>`` would break the
next forward pass) and the padding rows of the embedding. Nothing is hard-coded: the figures are what
this run measured.
"""

from __future__ import annotations

import argparse
import collections
import io
import json
import math
import time
from pathlib import Path

import pyarrow.parquet as pq
import torch

from megatron_mmupt.data.demo_task import ProcessorSpec, load_processor_parts
from megatron_mmupt.data.prompt_renderer import MM_UPT_INSTRUCTION
from megatron_mmupt.models.tiny_qwen2_5_vl import TinyQwen2_5_VLConfig, hf_config
from megatron_mmupt.reward.stage import RewardStage
from megatron_mmupt.rollout.types import Rollout, RolloutGroup

IMAGE_PAD = "<|image_pad|>"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True, help="folder written by `megatron-mmupt demo-data`")
    p.add_argument("--steps", type=int, default=2000, help="SFT steps (batch --batch-size)")
    p.add_argument("--eval-at", default="", help="comma-separated earlier steps to evaluate at too (e.g. 1000)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--num-eval", type=int, default=1000, help="test problems to evaluate (from the start)")
    p.add_argument("--samples", type=int, default=8, help="samples per problem at temperature 1 (k of maj@k)")
    p.add_argument("--max-new-tokens", type=int, default=80)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--report", type=Path, help="write the figures as JSON here")
    return p.parse_args()


def build_model(spec: ProcessorSpec):
    """The demo model (``megatron_mmupt.models.tiny_qwen2_5_vl``), randomly initialized."""
    from transformers import Qwen2_5_VLForConditionalGeneration

    return Qwen2_5_VLForConditionalGeneration(hf_config(TinyQwen2_5_VLConfig(), spec.to_dict()))


class Encoded:
    """A split as tensors: prompt ids (image pads expanded), response ids, and pixel values.

    ``pixel_values``: ``(N, P, 3 * 2 * 14 * 14)``, P = patches per image (64 for 112 x 112).
    """

    def __init__(self, rows: list[dict], tokenizer, image_processor, spec: ProcessorSpec) -> None:
        from PIL import Image

        self.rows = rows
        self.prompts, self.responses = [], []
        for row in rows:
            messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt_text(row)}]}]
            text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
            text = text.replace(IMAGE_PAD, IMAGE_PAD * spec.image_tokens)
            self.prompts.append(tokenizer(text).input_ids)
            self.responses.append(tokenizer(row["solution"] + tokenizer.eos_token).input_ids)
        images = [Image.open(io.BytesIO(r["images"][0]["bytes"])).convert("RGB") for r in rows]
        out = image_processor(images=images, return_tensors="pt")
        self.grid = out["image_grid_thw"][0]  # (3,) t, h, w patches: the same for every demo image
        if not bool((out["image_grid_thw"] == self.grid).all()):
            raise ValueError("the probe batches images of one size; this dataset mixes sizes")
        self.pixel_values = out["pixel_values"].view(len(rows), -1, out["pixel_values"].shape[-1])


def prompt_text(row: dict) -> str:
    # The data stage's MM-UPT template: question (placeholder removed: the image item comes first) + instruction.
    return row["question"].replace("<image>", "").strip() + MM_UPT_INSTRUCTION


def train_batch(data: Encoded, index: list[int], pad_id: int):
    seqs = [data.prompts[i] + data.responses[i] for i in index]
    # Few distinct shapes: oneDNN builds kernels per input shape, which costs seconds for each new one.
    length = 32 * math.ceil(max(map(len, seqs)) / 32)
    ids = torch.full((len(index), length), pad_id)  # (B, T), right padded
    labels = torch.full((len(index), length), -100)
    mask = torch.zeros((len(index), length), dtype=torch.long)
    for b, i in enumerate(index):
        n_prompt, seq = len(data.prompts[i]), seqs[b]
        ids[b, : len(seq)] = torch.tensor(seq)
        labels[b, n_prompt : len(seq)] = torch.tensor(data.responses[i])
        mask[b, : len(seq)] = 1
    pixels = data.pixel_values[index].flatten(0, 1)  # (B * P, 1176)
    return dict(input_ids=ids, attention_mask=mask, labels=labels, pixel_values=pixels,
                image_grid_thw=data.grid.repeat(len(index), 1))  # fmt: skip


def sft(model, data: Encoded, args, pad_id: int, on_step) -> list[float]:
    """Train; after each step ``on_step(step, losses)`` runs (evaluation at chosen steps)."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.98), weight_decay=0.01)
    warmup = max(1, args.steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * (0.1 + 0.45 * (1 + math.cos(math.pi * s / args.steps)))
    )
    generator = torch.Generator().manual_seed(args.seed)
    order, losses = [], []
    for step in range(1, args.steps + 1):
        model.train()
        if len(order) < args.batch_size:
            order += torch.randperm(len(data.rows), generator=generator).tolist()
        index, order = order[: args.batch_size], order[args.batch_size :]
        loss = model(**train_batch(data, index, pad_id)).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        if step % max(1, args.steps // 10) == 0:
            print(f"step {step}/{args.steps}  loss {mean_tail(losses):.3f}", flush=True)
        on_step(step, losses)
    return losses


@torch.no_grad()
def generate(model, data: Encoded, index: list[int], copies: int, sample: bool, args, tokenizer, suppress):
    """``copies`` responses for each problem in ``index`` (left-padded batch, prompts repeated)."""
    prompts = [data.prompts[i] for i in index for _ in range(copies)]
    length = max(map(len, prompts))
    ids = torch.full((len(prompts), length), tokenizer.pad_token_id)
    mask = torch.zeros_like(ids)
    for b, p in enumerate(prompts):
        ids[b, length - len(p) :], mask[b, length - len(p) :] = torch.tensor(p), 1
    pixels = data.pixel_values[[i for i in index for _ in range(copies)]].flatten(0, 1)
    out = model.generate(
        input_ids=ids, attention_mask=mask, pixel_values=pixels, image_grid_thw=data.grid.repeat(len(prompts), 1),
        max_new_tokens=args.max_new_tokens, do_sample=sample, temperature=1.0 if sample else None, top_p=None,
        top_k=None, suppress_tokens=suppress, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )  # fmt: skip
    texts = tokenizer.batch_decode(out[:, length:], skip_special_tokens=True)
    return [texts[k * copies : (k + 1) * copies] for k in range(len(index))]


def evaluate(model, data: Encoded, args, tokenizer, spec: ProcessorSpec, vocab: int) -> dict:
    added = [i for i in tokenizer.added_tokens_decoder if i != tokenizer.eos_token_id]
    suppress = sorted(set(added) | set(range(spec.vocab_size, vocab)))
    model.eval()
    greedy, sampled = [], []
    for start in range(0, len(data.rows), 64):
        index = list(range(start, min(start + 64, len(data.rows))))
        greedy += generate(model, data, index, 1, False, args, tokenizer, suppress)
        sampled += generate(model, data, index, args.samples, True, args, tokenizer, suppress)
    stage = RewardStage.Config().build()
    try:
        greedy_batch = stage.score_groups(rollout_groups(data.rows, greedy))
        sampled_batch = stage.score_groups(rollout_groups(data.rows, sampled))
    finally:
        stage.close()
    by_type = collections.defaultdict(lambda: collections.defaultdict(list))
    for row, g, s in zip(data.rows, greedy_batch, sampled_batch, strict=True):
        for key in ("all", row["question_type"], f"difficulty {row['difficulty']}"):
            by_type[key]["greedy"].append(float(g.outputs[0].correct))
            by_type[key]["pass@1"].append(sum(o.correct for o in s.outputs) / len(s.outputs))
            by_type[key][f"maj@{args.samples}"].append(float(bool(s.judgement.majority_correct)))
    figures = {k: {m: sum(v) / len(v) for m, v in ms.items()} | {"n": len(ms["greedy"])} for k, ms in by_type.items()}
    figures["examples"] = [{"id": r["id"], "answer": r["answer"], "greedy": g[0], "samples": s[:3]}
                           for r, g, s in list(zip(data.rows, greedy, sampled, strict=True))[:5]]  # fmt: skip
    return figures


def rollout_groups(rows: list[dict], responses: list[list[str]]) -> list[RolloutGroup]:
    """One group per problem, carrying the label and options so the stage reports correctness."""
    return [
        RolloutGroup(row["id"], tuple(Rollout(text) for text in texts), row["answer"], tuple(row["choices"]))
        for row, texts in zip(rows, responses, strict=True)
    ]


def mean_tail(values: list[float], n: int = 50) -> float:
    tail = values[-n:]
    return sum(tail) / len(tail)


def main() -> None:
    args = parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    tokenizer, image_processor = load_processor_parts(args.data / "processor")
    info = json.loads((args.data / "dataset_info.json").read_text())
    spec = ProcessorSpec.from_parts(tokenizer, image_processor, info["processor"]["image_size"])
    train_rows = pq.read_table(args.data / "train.parquet").to_pylist()
    test_rows = pq.read_table(args.data / "test.parquet").to_pylist()[: args.num_eval]
    train, test = (Encoded(rows, tokenizer, image_processor, spec) for rows in (train_rows, test_rows))
    model = build_model(spec)
    vocab = model.config.text_config.vocab_size
    num_params = sum(p.numel() for p in model.parameters())
    print(f"{num_params / 1e6:.2f} M parameters; {len(train.rows)} train / {len(test.rows)} test problems")
    eval_steps = {int(x) for x in args.eval_at.split(",") if x} | {args.steps}
    evaluations, clock = [], {"train": 0.0, "start": time.perf_counter()}

    def on_step(step: int, losses: list[float]) -> None:
        if step not in eval_steps:
            return
        clock["train"] += time.perf_counter() - clock["start"]
        t0 = time.perf_counter()
        figures = evaluate(model, test, args, tokenizer, spec, vocab)
        evaluations.append({"step": step, "sft_seconds": clock["train"], "eval_seconds": time.perf_counter() - t0,
                            "loss": mean_tail(losses), "figures": figures})  # fmt: skip
        print_table(evaluations[-1])
        clock["start"] = time.perf_counter()

    sft(model, train, args, tokenizer.pad_token_id, on_step)
    if args.report:
        report = {"args": {k: str(v) for k, v in vars(args).items()}, "num_params": num_params,
                  "evaluations": evaluations}  # fmt: skip
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(json.dumps(report, indent=2) + "\n")


def print_table(evaluation: dict) -> None:
    figures = evaluation["figures"]
    metrics = [m for m in figures["all"] if m != "n"]
    print(
        f"\nafter {evaluation['step']} SFT steps ({evaluation['sft_seconds']:.0f} s, loss {evaluation['loss']:.3f}); "
        f"eval {evaluation['eval_seconds']:.0f} s\n"
    )
    print(f"| group | n | {' | '.join(metrics)} |\n|---|---|{'---|' * len(metrics)}")
    for key, values in figures.items():
        if key != "examples":
            print(f"| {key} | {values['n']} | {' | '.join(f'{values[m]:.3f}' for m in metrics)} |", flush=True)


if __name__ == "__main__":
    main()
