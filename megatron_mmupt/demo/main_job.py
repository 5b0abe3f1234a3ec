"""The README's main job: does label-free training make the demo model better, beyond a random reward, and
how close does it come to supervised training?

    megatron-mmupt demo --seeds 1 --out runs/demo        # make demo; --seeds 1,2 for the seeds' spread

1. the demo task (``megatron-mmupt demo-data``) is generated when missing;
2. the shipped base model (``examples/demo_base_model``, written by ``tools/make_demo_model.py``: a short SFT
   warm-up, partly competent) is evaluated on the held-out split: greedy accuracy, and pass@1, maj@n and the
   majority share at the sampling temperature; then under further sample seeds, for the evaluation's own spread;
3. for every seed, the same recipe trains it three times (``ARMS``): with a random reward at the vote's rate (the
   control: Shao et al. 2025, "Spurious Rewards"), with the vote reward (label-free) and with the supervised
   reward (labels); each run is evaluated on the same held-out questions every ``eval.every`` steps;
4. ``summary.json``, ``summary.md`` and ``summary.png`` in the output folder hold the curves per run, their mean
   ± std per arm, the comparisons with their noise (``curves.compare``) and the time each stage took. They are
   rewritten after every run, so an interrupted demo leaves what it finished; run again, it reuses every
   finished run whose resolved config is unchanged (``result.json`` beside its ``config.json``).
"""

from __future__ import annotations

import json
import shutil
import statistics
from pathlib import Path

from megatron_mmupt.config.configurable import ConfigError
from megatron_mmupt.config.run_config import RunConfig
from megatron_mmupt.demo.curves import arm_curves, compare, figure_keys, first_alarm, read_curve
from megatron_mmupt.demo.report import format_curves, plot_curves, plot_summary
from megatron_mmupt.evaluation.heldout import HeldOutEval
from megatron_mmupt.parallel.cluster import ray_session
from megatron_mmupt.recipes import resolve_run_config
from megatron_mmupt.utils.atomic import atomic_write_text

ARMS = {"random": "random", "label-free": "majority", "supervised": "supervised"}
"""Arm name -> ``reward.mode``, in the order they train and show."""
MARKER = ".megatron-mmupt-demo"
EVAL_NOISE_SEEDS = (1, 2)
"""Further sample seeds (``eval.seed``) of the base model's evaluation: the spread of one evaluation's figures."""


def run_main_job(out: Path, *, seeds: list[int], overrides: list[str]) -> dict:
    import datasets

    datasets.disable_progress_bars()  # a "Generating train split" bar per dataset load, between the stage lines
    base_config = resolve_run_config("demo", overrides)
    prepare_output(out, keep_runs=True)
    ensure_demo_data(base_config)
    check_base_model(base_config)
    with ray_session(base_config.cluster, num_cpus=4):
        key = base_config.to_dict()  # a cached evaluation is reused only under the same resolved config
        before = cached(
            out / "base.json", key, lambda: evaluate_model(base_config, base_config.actor.model, "base model")
        )
        noise = cached(out / "eval_noise.json", key, lambda: evaluation_spread(overrides, before))
        runs, todo = [], [(seed, name, mode) for seed in seeds for name, mode in ARMS.items()]
        for index, (seed, name, mode) in enumerate(todo, start=1):
            config = run_config(overrides, out / f"{name}-seed{seed}", seed=seed, mode=mode)
            runs.append(train_or_reuse(config, name, seed))
            summary = curves_summary(before, runs, base_config, noise)  # written after every run: kept if cut short
            write_summary(out, summary, format_curves(summary), plot=plot_curves, echo=index == len(todo))
    return summary


def curves_summary(before: dict[str, float], runs: list[dict], config: RunConfig, noise: dict) -> dict:
    """The before/after summary (``summarize``) with the curves per arm and the comparisons."""
    keys = figure_keys(config.eval.n)
    summary = summarize(before, runs, config) | {"eval_noise": noise, "eval_every": config.eval.every}
    summary["curves"] = arm_curves(summary["before"], runs, keys)
    summary["comparisons"] = compare(summary["curves"], noise["std"], keys)
    summary["title"] = "MM-UPT demo: random reward vs vote reward (label-free) vs supervised reward"
    return summary


def train_or_reuse(config: RunConfig, name: str, seed: int) -> dict:
    """A finished run of the same resolved config is reused; anything else in its folder is replaced."""
    run_dir = Path(config.output_dir)
    result_file = run_dir / "result.json"
    if result_file.is_file() and _same_training(run_dir, config):
        print(f"reusing the finished run {run_dir}", flush=True)
        result = json.loads(result_file.read_text())
        return result | {"first_alarm": first_alarm(run_dir / "metrics.jsonl", config.guard)}
    shutil.rmtree(run_dir, ignore_errors=True)
    print(f"training: {name}, seed {seed} -> {run_dir}", flush=True)
    result = train_one(config, name, seed)
    atomic_write_text(result_file, json.dumps(result, indent=2) + "\n")
    return result


def cached(path: Path, key: dict, compute) -> dict:
    """``compute()``, kept in ``path`` with ``key``: a rerun of the demo with the same key does not compute again."""
    key = json.loads(json.dumps(key))
    if path.is_file() and (stored := json.loads(path.read_text()))["key"] == key:
        return stored["value"]
    value = compute()
    atomic_write_text(path, json.dumps({"key": key, "value": value}, indent=2) + "\n")
    return value


def write_summary(out: Path, summary: dict, table: str, plot=plot_summary, echo: bool = True) -> None:
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    atomic_write_text(out / "summary.md", table + "\n")
    plot(summary, out / "summary.png")
    if echo:  # the table once, at the end; before, one line per update
        print(table)
    print(f"\n{'wrote' if echo else 'updated'} {out / 'summary.json'}, {out / 'summary.md'}, {out / 'summary.png'}")


def run_config(overrides: list[str], output_dir: Path, *, seed: int, mode: str) -> RunConfig:
    """The demo recipe for one training run: ``overrides``, then the seed, the reward mode and the folder."""
    per_run = [
        f"seed={seed}", f"data.sampler.seed={seed}", f"rollout.sampling.seed={seed}", f"reward.mode={mode}",
        f"output_dir={output_dir}", "eval.before=false",
    ]  # fmt: skip
    if mode == "supervised":  # it does not vote: the recipe's vote filter would only print that it is inert
        per_run.append("reward.vote.min_vote_share=0.0")
    return resolve_run_config("demo", [*overrides, *per_run])


def train_one(config: RunConfig, name: str, seed: int) -> dict:
    from megatron_mmupt.train import train

    metrics = train(config)
    metrics_file = Path(config.output_dir) / "metrics.jsonl"
    return {
        "mode": name, "reward": config.reward.mode, "seed": seed, "after": _held_out(metrics),
        "curve": read_curve(metrics_file, [k for k in _held_out(metrics) if k != "questions"]),
        "first_alarm": first_alarm(metrics_file, config.guard), "time": _stage_times(metrics_file),
    }  # fmt: skip


def evaluate_model(config: RunConfig, model_path: str, what: str = "") -> dict[str, float]:
    """Held-out figures of an HF model folder through a local engine (the evaluation the runs use)."""
    import dataclasses

    if what:
        print(f"evaluating the {what} {model_path} on {config.eval.source.max_rows or 'all'} questions ...", flush=True)

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

    The runs' figures are paired (same questions, same sample seeds), but training changes which samples come out,
    so a difference smaller than this spread cannot be told from a lucky draw. Greedy decoding draws nothing: its
    spread is 0 by construction (its noise is the seeds' and the questions').
    """
    base_config = resolve_run_config("demo", overrides)
    figures = [before]
    for seed in EVAL_NOISE_SEEDS:
        config = resolve_run_config("demo", [*overrides, f"eval.seed={seed}", "eval.greedy=false"])
        figures.append(evaluate_model(config, config.actor.model, f"base model with sample seed {seed}"))
    keys = [k for k in before if k not in ("questions", "greedy")]
    std = {k: statistics.stdev(f[k] for f in figures) for k in keys} | ({"greedy": 0.0} if "greedy" in before else {})
    return {"eval_seeds": [base_config.eval.seed, *EVAL_NOISE_SEEDS], "each": figures, "std": std}


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
    keys = [k for k in metrics if k in ("eval/greedy", "eval/pass_at_1", "eval/majority_ratio")]
    keys += [k for k in metrics if k.startswith("eval/maj_at_")]
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


def prepare_output(out: Path, *, keep_runs: bool = False) -> None:
    """A previous demo's folder is replaced, or kept with ``keep_runs`` (the main job reuses its unchanged finished
    runs); any other non-empty folder is refused (nothing is lost)."""
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).exists():
            raise ConfigError(f"--out {out} exists and is not a previous demo's output; choose another folder")
        if not keep_runs:
            shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("written by `megatron-mmupt demo`; the next demo in this folder replaces or reuses it\n")


def _same_training(run_dir: Path, config: RunConfig) -> bool:
    """Whether the finished run in ``run_dir`` trained as ``config`` would: the same resolved config, up to the
    guard's thresholds while both only warn (a warning changes nothing; the alarms are replayed from the run)."""
    written = run_dir / "config.json"
    if not written.is_file():
        return False
    old, new = json.loads(written.read_text()), json.loads(json.dumps(config.to_dict()))
    if old.get("guard", {}).get("action") == new["guard"]["action"] == "warn":
        old["guard"] = new["guard"]
    return old == new
