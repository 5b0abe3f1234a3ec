"""MM-UPT's second result in miniature: training on questions the model wrote itself.

    megatron-mmupt demo --synthesis --seeds 1,2 --out runs/demo-synthesis

1. the base model writes questions about the first ``images`` demo train images, once in context (image +
   its question -> another question) and once directly (image -> a question); the filters keep those it
   answers consistently (``megatron-mmupt synthesize``, the demo recipe's prompt and sampling temperature);
2. for every seed, the demo recipe trains the base model with the vote reward (no labels) on the original
   questions and on each synthesized set, and each result is evaluated on the same held-out questions;
3. ``summary.json``, ``summary.md`` and ``summary.png`` hold the before/after figures and what the
   synthesis kept.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from megatron_mmupt.config.run_config import RunConfig
from megatron_mmupt.demo.main_job import (
    check_base_model,
    ensure_demo_data,
    evaluate_model,
    prepare_output,
    run_config,
    summarize,
    train_one,
    write_summary,
)
from megatron_mmupt.demo.report import format_summary
from megatron_mmupt.parallel.cluster import ray_session
from megatron_mmupt.recipes import resolve_run_config
from megatron_mmupt.synthesis import FilterConfig, SynthesisConfig, synthesize
from megatron_mmupt.utils.errors import InputError

DATA_SOURCES = ("original", "in-context", "direct")
SYNTHESIS_IMAGES = 1000
"""Seed images per synthesized set: each run draws 20 steps x 32 = 640 questions."""


SCHEDULE = ("trainer.num_steps=20", "eval.every=0", "eval.greedy=false")
"""The synthesis comparison's schedule (before the user's overrides): 20 steps, evaluated before and after."""


def run_synthesis_job(out: Path, *, seeds: list[int], overrides: list[str], images: int = SYNTHESIS_IMAGES) -> dict:
    overrides = [*SCHEDULE, *overrides]
    base_config = resolve_run_config("demo", overrides)
    prepare_output(out)
    ensure_demo_data(base_config)
    check_base_model(base_config)
    synthesized = {}
    for method in DATA_SOURCES[1:]:
        print(f"synthesizing questions ({method}) about {images} demo train images ...", flush=True)
        summary = synthesize(synthesis_config(base_config, method, out / f"questions-{method}", images))
        if not summary["kept"]:
            raise InputError(f"the base model kept no {method} question; see {out / f'questions-{method}'}/summary.md")
        synthesized[method] = {k: summary[k] for k in ("written", "rejected", "kept", "multiple_choice", "seconds")}
    with ray_session(base_config.cluster, num_cpus=4):
        print(f"evaluating the base model {base_config.actor.model} ...", flush=True)
        before = evaluate_model(base_config, base_config.actor.model)
        runs = []
        for seed in seeds:
            for source in DATA_SOURCES:
                data = [] if source == "original" else [f"data.source.path={out / f'questions-{source}'}/train.parquet"]
                config = run_config([*overrides, *data], out / f"{source}-seed{seed}", seed=seed, mode="majority")
                print(f"training on {source} questions, seed {seed} -> {config.output_dir}", flush=True)
                runs.append(train_one(config, source, seed))
    summary = summarize(before, runs, base_config)
    summary |= {"title": "MM-UPT demo: vote reward on original vs self-written questions", "synthesis": synthesized}
    write_summary(out, summary, format_summary(summary) + "\n\n" + synthesis_table(synthesized))
    return summary


def synthesis_config(config: RunConfig, method: str, out: Path, images: int) -> SynthesisConfig:
    """Questions as the demo's runs will ask them: its prompt, images, sampling temperature, answer length."""
    sampling = config.rollout.sampling
    return SynthesisConfig(
        method=method,
        model_path=config.actor.model,
        seed_data=dataclasses.replace(config.data.source, max_rows=images),
        output_dir=str(out),
        rollout=dataclasses.replace(config.rollout, engine="local", num_engines=1),  # in this process
        max_new_tokens=64,
        filters=FilterConfig(
            k=sampling.n,
            temperature=sampling.temperature,
            max_new_tokens=sampling.max_new_tokens,
            min_share=config.reward.vote.min_vote_share,
        ),
        answer_prompt=config.data.prompt,
        images=config.data.images,
        seed=config.seed,
    )


def synthesis_table(synthesized: dict) -> str:
    reasons = list(next(iter(synthesized.values()))["rejected"]) if synthesized else []
    lines = [
        "Synthesized questions (written -> rejected by each filter -> kept):",
        "",
        f"| method | written | {' | '.join(reasons)} | kept | multiple choice | seconds |",
        "|---|---|" + "---|" * len(reasons) + "---|---|---|",
    ]
    for method, s in synthesized.items():
        rejected = " | ".join(str(s["rejected"][r]) for r in reasons)
        lines.append(
            f"| {method} | {s['written']} | {rejected} | {s['kept']} | {s['multiple_choice']} | {s['seconds']:.0f} |"
        )
    return "\n".join(lines)
