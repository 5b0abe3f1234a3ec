"""The demo's regime study: which label-free setting raises pass@1 without lowering maj@8?

    python tools/demo_regime_study.py --seeds 1,2,3 --settings recipe,lr_2e-4,lr_5e-5 --out runs/regime-study

Every setting is the demo recipe (``megatron_mmupt/demo/recipe.py``) with a few overrides, trained without
labels for each seed by the real system (``megatron_mmupt.train``), then evaluated on a **validation split**:
1,000 problems of the demo task drawn with another generator seed (``demo-data --seed 1``; the training split and
the test split that ``make demo`` reports are seed 0). Choosing the regime on this split keeps the test figures
of ``make demo`` an independent confirmation. Before/after are paired: the same questions, the same sample
seeds (``eval.seed``), one evaluation of the base model.

Each run's result is kept in ``<out>/<setting>-seed<k>/result.json``, so a study can grow one setting or seed at a
time and an interrupted study resumes; ``<out>/study.{json,md}`` is rewritten after every run: per setting the mean
and the standard deviation over seeds of pass@1, maj@8 and their paired gains, and the training batches' majority
share at the last step.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import statistics
import time
from pathlib import Path

from megatron_mmupt.demo.main_job import (
    check_base_model,
    ensure_demo_data,
    evaluate_model,
    evaluation_spread,
    run_config,
    train_one,
)
from megatron_mmupt.parallel.cluster import _python_path
from megatron_mmupt.recipes import resolve_run_config
from megatron_mmupt.utils.atomic import atomic_write_text
from megatron_mmupt.utils.known_warnings import RAY_WORKER_SETUP_HOOK, install

VALIDATION_DIR = Path("runs/demo-val")
"""The validation split: ``megatron-mmupt demo-data --out runs/demo-val --seed 1 --num-train 1 --num-test 1000``."""

SETTINGS: dict[str, tuple[str, ...]] = {
    "recipe": (),
    "lr_2e-4": ("actor.optimizer.lr=2e-4",),
    "kl_0.05": ("algorithm.kl.coef=0.05",),
    "kl_0.1": ("algorithm.kl.coef=0.1",),
    "lr_1e-4": ("actor.optimizer.lr=1e-4",),
    "lr_1e-4_kl_0.05": ("actor.optimizer.lr=1e-4", "algorithm.kl.coef=0.05"),
    "lr_5e-5": ("actor.optimizer.lr=5e-5",),
    "min_share_0.625": ("reward.vote.min_vote_share=0.625",),
    "vote_share": ("reward.mode=vote_share",),
    "margin_majority": ("reward.mode=margin_majority", "algorithm.advantage.estimator=dr_grpo"),
    "majority_certainty": ("reward.mode=majority_certainty",),
    "guard_skip": ("guard.action=skip", "guard.max_share_rise=0.05", "guard.skip_below_share=0.75"),
    "guard_scale": ("guard.action=scale", "guard.max_share_rise=0.05", "guard.advantage_scale=0.25"),
}
"""Setting name -> overrides of the demo recipe (label-free: ``reward.mode`` defaults to ``majority``)."""


def main() -> None:
    install()  # the driver side of the known-warnings filter (the Ray workers: RAY_WORKER_SETUP_HOOK)
    args = parse_args()
    out, seeds = args.out, [int(s) for s in args.seeds.split(",")]
    names = list(SETTINGS) if args.settings == "all" else args.settings.split(",")
    unknown = [n for n in names if n not in SETTINGS]
    if unknown:
        raise SystemExit(f"unknown settings {unknown}; known: {', '.join(SETTINGS)}")
    common = [f"eval.source.path={args.eval_data}", f"eval.source.max_rows={args.questions}", "logging.console=false"]
    base_config = resolve_run_config("demo", common)
    ensure_demo_data(base_config)
    ensure_validation_split(Path(args.eval_data))
    check_base_model(base_config)
    out.mkdir(parents=True, exist_ok=True)
    with private_ray(num_cpus=4):
        before = cached(out / "base.json", lambda: evaluate_model(base_config, base_config.actor.model))
        cached(out / "base_eval_noise.json", functools.partial(evaluation_spread, common, before))
        for name in names:
            for seed in seeds:
                run_dir = out / f"{name}-seed{seed}"
                cached(run_dir / "result.json", functools.partial(run_setting, common, name, seed, run_dir))
                write_study(out, before)


@contextlib.contextmanager
def private_ray(num_cpus: int):
    """A Ray instance of this study alone: ``address="local"`` never joins a cluster that runs on this machine."""
    import ray

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    runtime_env = {"env_vars": {"PYTHONPATH": os.pathsep.join(_python_path()), "RAY_DEDUP_LOGS": "0"}}
    runtime_env["worker_process_setup_hook"] = RAY_WORKER_SETUP_HOOK  # as parallel/cluster.py's sessions
    ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, runtime_env=runtime_env)
    try:
        yield
    finally:
        ray.shutdown()


def run_setting(common: list[str], name: str, seed: int, run_dir: Path) -> dict:
    overrides = [*common, *SETTINGS[name]]
    mode = next((o.split("=", 1)[1] for o in overrides if o.startswith("reward.mode=")), "majority")
    config = run_config([o for o in overrides if not o.startswith("reward.mode=")], run_dir, seed=seed, mode=mode)
    print(f"training: {name}, seed {seed} -> {run_dir}", flush=True)
    start = time.monotonic()
    result = train_one(config, name, seed)
    last = last_record(run_dir / "metrics.jsonl")
    result |= {"setting": name, "overrides": list(SETTINGS[name]), "wall_s": time.monotonic() - start}
    result["last_step"] = {k: v for k, v in last.items() if k.split("/")[0] in ("vote", "guard", "entropy")}
    return result


def cached(path: Path, compute) -> dict:
    if path.is_file():
        return json.loads(path.read_text())
    value = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(value, indent=2) + "\n")
    return value


def last_record(metrics_file: Path) -> dict[str, float]:
    merged: dict[str, float] = {}
    for line in metrics_file.read_text().splitlines():
        merged |= {k: v for k, v in json.loads(line).items() if isinstance(v, (int, float))}
    return merged


def ensure_validation_split(path: Path) -> None:
    if path.is_file():
        return
    from megatron_mmupt.demo.task import DemoDataset

    print(f"generating the validation split into {path.parent} ...", flush=True)
    DemoDataset.Config(seed=1, num_train=1, num_test=1000).build().write(path.parent)


def summarize(before: dict, results: list[dict]) -> dict:
    """Per setting: mean and std over seeds of each held-out figure and of its paired gain over the base model."""
    keys = [k for k in before if k != "questions"]
    table = {}
    for name in dict.fromkeys(r["setting"] for r in results):
        runs = [r for r in results if r["setting"] == name]
        row: dict = {"seeds": [r["seed"] for r in runs], "overrides": runs[0]["overrides"]}
        for key in keys:
            after = [r["after"][key] for r in runs]
            gains = [a - before[key] for a in after]
            row[key] = {"mean": statistics.fmean(after), "std": _std(after)}
            row[f"gain_{key}"] = {"mean": statistics.fmean(gains), "std": _std(gains), "each": gains}
        share = [r["last_step"].get("vote/majority_ratio", float("nan")) for r in runs]
        row["majority_share_last_step"] = statistics.fmean(share)
        row["wall_s"] = statistics.fmean(r["wall_s"] for r in runs)
        table[name] = row
    return {"questions": before.get("questions"), "before": before, "settings": table}


def _std(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else float("nan")


def pct(value: float) -> str:
    return f"{100 * value:.1f}"


def pm(stat: dict) -> str:
    """A gain in points: mean ± std over seeds (the mean alone for one seed)."""
    spread = f" ± {100 * stat['std']:.1f}" if stat["std"] == stat["std"] else ""
    return f"{100 * stat['mean']:+.1f}{spread}"


def format_study(study: dict) -> str:
    before = study["before"]
    maj = next(k for k in before if k.startswith("maj_at_"))
    lines = [
        f"Validation split, {study['questions']} questions; base model pass@1 {pct(before['pass_at_1'])}, "
        f"{maj.replace('_at_', '@')} {pct(before[maj])}. Gains: mean ± std over seeds (percentage points).",
        "",
        f"| setting | seeds | pass@1 | gain | {maj.replace('_at_', '@')} | gain | majority share (last step) |",
        "|---|---|---|---|---|---|---|",
    ]
    noise = study.get("eval_noise")
    if noise:
        lines[0] += (
            f" One evaluation's own spread (the base model under {len(noise['eval_seeds'])} sample seeds, std): "
            f"pass@1 {100 * noise['std']['pass_at_1']:.1f}, {maj.replace('_at_', '@')} {100 * noise['std'][maj]:.1f}."
        )
    for name, row in study["settings"].items():
        lines.append(
            f"| {name} | {len(row['seeds'])} | {pct(row['pass_at_1']['mean'])} | {pm(row['gain_pass_at_1'])} | "
            f"{pct(row[maj]['mean'])} | {pm(row['gain_' + maj])} | {row['majority_share_last_step']:.2f} |"
        )
    return "\n".join(lines)


def write_study(out: Path, before: dict) -> None:
    results = [json.loads(p.read_text()) for p in sorted(out.glob("*-seed*/result.json"))]
    order = {name: i for i, name in enumerate(SETTINGS)}
    results.sort(key=lambda r: (order.get(r["setting"], len(order)), r["seed"]))
    study = summarize(before, results)
    noise_file = out / "base_eval_noise.json"
    study["eval_noise"] = json.loads(noise_file.read_text()) if noise_file.is_file() else None
    atomic_write_text(out / "study.json", json.dumps(study, indent=2) + "\n")
    atomic_write_text(out / "study.md", format_study(study) + "\n")
    print(format_study(study), flush=True)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/regime-study"))
    parser.add_argument("--seeds", default="1,2,3", help="comma-separated training seeds (default: 1,2,3)")
    parser.add_argument("--settings", default="all", help=f"comma-separated, or all: {', '.join(SETTINGS)}")
    parser.add_argument("--eval-data", default=str(VALIDATION_DIR / "test.parquet"), help="held-out parquet")
    parser.add_argument("--questions", type=int, default=1000, help="held-out questions (default: 1000)")
    return parser.parse_args()


if __name__ == "__main__":
    main()
