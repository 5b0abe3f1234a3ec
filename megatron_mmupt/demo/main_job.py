"""The README's main job: does label-free training make the demo model better, and how close to supervised?

    megatron-mmupt demo --seeds 1,2,3 --out runs/demo

1. the demo task (``megatron-mmupt demo-data``) is generated when missing;
2. the shipped base model (``examples/demo_base_model``, written by ``tools/make_demo_model.py``: a short SFT
   warm-up, partly competent) is evaluated once on the held-out split: pass@1 and maj@n;
3. for every seed, the same recipe trains it twice: with the vote reward (no labels) and with the supervised
   reward (labels) as the baseline, and each result is evaluated on the same held-out questions;
4. ``summary.json``, ``summary.md`` and ``summary.png`` in the output folder hold the before/after figures per
   seed and mode, their means, and the time each stage took.
"""

from __future__ import annotations

import json
import shutil
import statistics
from pathlib import Path

from megatron_mmupt.config.configurable import ConfigError
from megatron_mmupt.config.run_config import RunConfig
from megatron_mmupt.demo.report import format_summary, plot_summary
from megatron_mmupt.evaluation.heldout import HeldOutEval
from megatron_mmupt.parallel.cluster import ray_session
from megatron_mmupt.recipes import resolve_run_config
from megatron_mmupt.utils.atomic import atomic_write_text

MODES = {"label-free": "majority", "supervised": "supervised"}
MARKER = ".megatron-mmupt-demo"
EVAL_NOISE_SEEDS = (1, 2, 3)
"""Further sample seeds (``eval.seed``) of the base model's evaluation: the spread of one evaluation's figures."""


def run_main_job(out: Path, *, seeds: list[int], overrides: list[str]) -> dict:
    base_config = resolve_run_config("demo", overrides)
    prepare_output(out)
    ensure_demo_data(base_config)
    check_base_model(base_config)
    with ray_session(base_config.cluster, num_cpus=4):
        print(f"evaluating the base model {base_config.actor.model} ...", flush=True)
        before = evaluate_model(base_config, base_config.actor.model)
        noise = evaluation_spread(overrides, before)
        runs = []
        for seed in seeds:
            for name, mode in MODES.items():
                config = run_config(overrides, out / f"{name}-seed{seed}", seed=seed, mode=mode)
                print(f"training: {name}, seed {seed} -> {config.output_dir}", flush=True)
                runs.append(train_one(config, name, seed))
    summary = summarize(before, runs, base_config) | {"eval_noise": noise}
    summary["title"] = "MM-UPT demo: label-free (vote reward) vs supervised reward"
    write_summary(out, summary, format_summary(summary))
    return summary


def write_summary(out: Path, summary: dict, table: str) -> None:
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    atomic_write_text(out / "summary.md", table + "\n")
    plot_summary(summary, out / "summary.png")
    print(table)
    print(f"\nwrote {out / 'summary.json'}, {out / 'summary.md'}, {out / 'summary.png'}")


def run_config(overrides: list[str], output_dir: Path, *, seed: int, mode: str) -> RunConfig:
    """The demo recipe for one training run: ``overrides``, then the seed, the reward mode and the folder."""
    per_run = [
        f"seed={seed}", f"data.sampler.seed={seed}", f"rollout.sampling.seed={seed}", f"reward.mode={mode}",
        f"output_dir={output_dir}", "eval.before=false",
    ]  # fmt: skip
    return resolve_run_config("demo", [*overrides, *per_run])


def train_one(config: RunConfig, name: str, seed: int) -> dict:
    from megatron_mmupt.train import train

    metrics = train(config)
    times = _stage_times(Path(config.output_dir) / "metrics.jsonl")
    return {"mode": name, "reward": config.reward.mode, "seed": seed, "after": _held_out(metrics), "time": times}


def evaluate_model(config: RunConfig, model_path: str) -> dict[str, float]:
    """Held-out figures of an HF model folder through a local engine (the evaluation the runs use)."""
    import dataclasses

    from megatron_mmupt.rollout.ray_local import launch_local_engines

    local = dataclasses.replace(config.rollout.local, model_path=model_path)
    engine = launch_local_engines(1, local, num_cpus=config.rollout.cpus_per_engine)[0]
    heldout = HeldOutEval(config.eval, data=config.data, rollout_sampling=config.rollout.sampling)
    try:
        return _held_out(heldout.run(engine))
    finally:
        heldout.close()
        engine.shutdown()


def evaluation_spread(overrides: list[str], before: dict[str, float]) -> dict:
    """The base model evaluated under further sample seeds: how far one evaluation's figures move by chance.

    The runs' gains are paired (same questions, same sample seeds), but training changes which samples come out,
    so a gain smaller than this spread cannot be told from a lucky draw.
    """
    base_config = resolve_run_config("demo", overrides)
    figures = [before]
    for seed in EVAL_NOISE_SEEDS:
        config = resolve_run_config("demo", [*overrides, f"eval.seed={seed}"])
        print(f"evaluating the base model with sample seed {seed} (the evaluation's spread) ...", flush=True)
        figures.append(evaluate_model(config, config.actor.model))
    keys = [k for k in before if k != "questions"]
    seeds = [base_config.eval.seed, *EVAL_NOISE_SEEDS]
    return {"eval_seeds": seeds, "each": figures, "std": {k: statistics.stdev(f[k] for f in figures) for k in keys}}


def summarize(before: dict[str, float], runs: list[dict], config: RunConfig) -> dict:
    """Before/after figures, every run, and the mean of each mode (the runs' ``mode`` names, in order)."""
    before = dict(before)
    questions = int(before.pop("questions", 0))
    means = {}
    for name in dict.fromkeys(r["mode"] for r in runs):
        mine = [r for r in runs if r["mode"] == name]
        means[name] = {k: statistics.fmean(r["after"][k] for r in mine) for k in before} if mine else {}
        means[name] |= {f"gain_{k}": means[name][k] - before[k] for k in before} if mine else {}
        if len(mine) > 1:  # the noise of the mean's gain: std over seeds (before/after are paired per question)
            means[name] |= {f"std_gain_{k}": statistics.stdev(r["after"][k] for r in mine) for k in before}
    return {
        "task": "demo (rendered visual math), held-out split",
        "questions": questions,
        "samples_per_question": config.eval.n,
        "temperature": config.eval.temperature,
        "steps": config.trainer.num_steps,
        "base_model": config.actor.model,
        "before": before,
        "runs": runs,
        "mean_after": means,
    }


def _held_out(metrics: dict[str, float]) -> dict[str, float]:
    keys = [k for k in metrics if k.startswith("eval/pass_at_1") or k.startswith("eval/maj_at_")]
    keys += ["eval/questions"] if "eval/questions" in metrics else []
    return {k.removeprefix("eval/"): float(metrics[k]) for k in keys}


def _stage_times(metrics_file: Path) -> dict[str, float]:
    """Seconds per stage summed over the run's steps (from metrics.jsonl's ``time/*``)."""
    totals: dict[str, float] = {}
    for line in metrics_file.read_text().splitlines():
        for key, value in json.loads(line).items():
            if key.startswith("time/") and isinstance(value, (int, float)):
                totals[key.removeprefix("time/")] = totals.get(key.removeprefix("time/"), 0.0) + float(value)
    return totals


def ensure_demo_data(config: RunConfig) -> None:
    from megatron_mmupt.demo.task import DemoDataset

    data_dir = Path(config.data.processor).parent
    if (data_dir / "train.parquet").is_file() and (data_dir / "test.parquet").is_file():
        return
    print(f"generating the demo task into {data_dir} ...", flush=True)
    DemoDataset.Config().build().write(data_dir)


def check_base_model(config: RunConfig) -> None:
    """The shipped model must use the data's tokenizer (both are deterministic; a mismatch means a stale copy)."""
    model, processor = Path(config.actor.model), Path(config.data.processor)
    if not (model / "config.json").is_file():
        raise ConfigError(f"no base model at {model}; build it with `python tools/make_demo_model.py --out {model}`")
    if (model / "tokenizer.json").read_bytes() != (processor / "tokenizer.json").read_bytes():
        raise ConfigError(
            f"{model}/tokenizer.json differs from {processor}/tokenizer.json: the base model was made for other "
            f"demo data; regenerate the data (`megatron-mmupt demo-data --out {processor.parent}`) or the model "
            f"(`python tools/make_demo_model.py --data {processor.parent} --out {model}`)"
        )


def prepare_output(out: Path) -> None:
    """A previous demo's folder is replaced; any other non-empty folder is refused (nothing is lost)."""
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).exists():
            raise ConfigError(f"--out {out} exists and is not a previous demo's output; choose another folder")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("written by `megatron-mmupt demo`; replaced by the next run\n")
