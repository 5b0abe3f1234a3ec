"""The README.md written beside a demo dataset, from its ``dataset_info``."""

from __future__ import annotations

from typing import Any

from megatron_mmupt.demo.task.generator import QUESTION_TYPE_NAMES

QUESTION_TYPE_DOCS = {
    "count": "how many shapes of a colour and/or kind (1: one kind; 2: a colour or a kind; 3: colour and kind)",
    "compare": "are there more of one group or another; answers a colour or kind word (red, circles)",
    "add": "the sum of the two numbers drawn (1+1 digits; 2+1 digits; 2+2 digits)",
    "perimeter": "perimeter of a labelled rectangle (1: one, sides 1-9; 2: two, 2-9; 3: three, 10-15 by 2-9)",
    "area": "area of a labelled rectangle (same scenes as perimeter; with several, one is named by colour)",
    "choice": "a count question with options (A)-(D); the answer is the letter",
}


def readme_text(info: dict[str, Any]) -> str:
    cfg, spec = info["config"], info["processor"]
    lines = [
        "# megatron_mmupt demo task",
        "",
        "Procedurally rendered visual math problems for the tiny Qwen2.5-VL demo model",
        "(`megatron_mmupt.demo.task`).",
        f"Regenerate with `megatron-mmupt demo-data --out DIR --seed {cfg['seed']} "
        f"--num-train {cfg['num_train']} --num-test {cfg['num_test']}` (same rows for the same Pillow version).",
        "",
        "## Files",
        "",
        "- `train.parquet`, `test.parquet`: `datasets.load_dataset('parquet', data_files=...)` decodes `images`",
        "  to PIL.",
        "- `processor/`: tokenizer (byte-level BPE, Qwen2.5-VL special tokens and chat template) and image "
        "processor; load with `AutoTokenizer` / `AutoImageProcessor` (`AutoProcessor` needs torchvision).",
        "- `dataset_info.json`: the generator config, token ids and sizes, per-split counts.",
        "",
        "## Columns",
        "",
        "| column | type | meaning |",
        "|---|---|---|",
        "| id | str | `demo-<split>-<index>` |",
        "| question | str | `<image>` placeholder, then the question (options included for multiple choice) |",
        f"| images | list[Image] | one {cfg['task']['image_size']}x{cfg['task']['image_size']} PNG |",
        "| answer | str | ground truth (monitoring and evaluation only; MM-UPT never trains on it) |",
        "| choices | list[str] | option texts in letter order; empty unless multiple choice |",
        "| question_type | str | see below |",
        "| difficulty | int | 1 (easy) to 3 (hard) |",
        "| solution | str | short reasoning ending in `\\boxed{answer}`, for an SFT warm-up |",
        "",
        f"Prompts append the MM-UPT instruction: `{info['instruction'].strip()}`",
        "",
        "## Question types",
        "",
        *(
            f"- `{name}`: {QUESTION_TYPE_DOCS[name]}"
            for name in QUESTION_TYPE_NAMES
            if name in cfg["task"]["question_types"]
        ),
        "",
        "## Splits",
        "",
        "| split | rows | per question type | per difficulty |",
        "|---|---|---|---|",
        *(
            f"| {name} | {s['num_rows']} | {_counts(s['question_types'])} | {_counts(s['difficulties'])} |"
            for name, s in info["splits"].items()
        ),
        "",
        "## Processor",
        "",
        f"Vocabulary {spec['vocab_size']} tokens; `<|image_pad|>` = {spec['image_token_id']}, "
        f"`<|video_pad|>` = {spec['video_token_id']}, `<|vision_start|>` = {spec['vision_start_token_id']}, "
        f"`<|vision_end|>` = {spec['vision_end_token_id']}, EOS `<|im_end|>` = {spec['eos_token_id']}, "
        f"PAD `<|endoftext|>` = {spec['pad_token_id']}.",
        f"Each image becomes {spec['image_tokens']} merged vision tokens (patch {spec['patch_size']}, merge "
        f"{spec['merge_size']}); pixel bounds [{spec['min_pixels']}, {spec['max_pixels']}].",
        "",
    ]
    return "\n".join(lines)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in counts.items())
