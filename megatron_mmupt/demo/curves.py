"""The main job's curves: held-out figures of every run at its evaluation steps, and their mean ± std per arm.

A run's curve is read from its ``metrics.jsonl`` (the ``eval/*`` records at steps ``eval.every``, 2 x ... and the
last one), preceded by the base model's figures at step 0 (evaluated once, shared by every run). Per arm and step,
the mean and the standard deviation over the seeds; the comparisons (``compare``) say whether a difference is
larger than its noise, defined as ``max(sqrt(std_a^2 + std_b^2), sqrt(2) * eval_std)``: the seeds' spread of the
two figures, or the evaluation's own spread (the base model under several sample seeds) when that is larger.
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

from megatron_mmupt.trainer.collapse_guard import CollapseGuard, replay
from megatron_mmupt.trainer.collapse_signals import CollapseSignals

FIGURES = ("greedy", "pass_at_1", "maj_at_{n}", "majority_ratio")
"""Held-out figures of a curve: greedy accuracy, pass@1 and maj@n at the sampling temperature, majority share."""


def figure_keys(n: int) -> list[str]:
    return [f.format(n=n) for f in FIGURES]


def read_curve(metrics_file: Path, keys: list[str]) -> list[dict]:
    """``[{"step": s, key: value, ...}]`` for every logged evaluation of a run (step 0 included if logged)."""
    curve = []
    for line in metrics_file.read_text().splitlines():
        record = json.loads(line)
        if "eval/pass_at_1" in record:
            curve.append({"step": int(record["step"])} | {k: float(record[f"eval/{k}"]) for k in keys})
    return curve


def first_alarm(metrics_file: Path, guard: CollapseGuard.Config) -> int | None:
    """The first step at which a guard with ``guard`` alarms on the run's logged signals, or ``None``: what the
    run's own guard did when both warn only (a warning changes nothing), and what today's defaults would do on a
    run made before they changed."""
    records = [json.loads(line) for line in metrics_file.read_text().splitlines()]
    steps = [(r["step"], CollapseSignals.from_metrics(r)) for r in records if "vote/majority_ratio" in r]
    alarms = replay(guard, steps)
    return alarms[0] if alarms else None


def arm_curves(before: dict[str, float], runs: list[dict], keys: list[str]) -> dict[str, dict]:
    """Per arm: ``{"steps": [...], "seeds": [...], key: {"mean": [...], "std": [...]}}``; step 0 is the base model.

    Only steps that every seed of the arm evaluated are kept (a run cut short has fewer).
    """
    arms: dict[str, dict] = {}
    for arm in dict.fromkeys(r["mode"] for r in runs):
        mine = [r for r in runs if r["mode"] == arm]
        by_seed = [{0: before} | {p["step"]: p for p in r["curve"]} for r in mine]
        steps = sorted(set.intersection(*(set(c) for c in by_seed)))
        arms[arm] = {"steps": steps, "seeds": [r["seed"] for r in mine]}
        for key in keys:
            values = [[c[s][key] for c in by_seed] for s in steps]  # (steps, seeds)
            arms[arm][key] = {"mean": [statistics.fmean(v) for v in values], "std": [_std(v) for v in values]}
    return arms


def noise_of_difference(std_a: float | None, std_b: float | None, eval_std: float) -> float:
    """The noise of a difference of two figures (see the module docstring); a ``None`` std (one seed) counts 0."""
    seeds = math.sqrt(_none_to_zero(std_a) ** 2 + _none_to_zero(std_b) ** 2)
    return max(seeds, math.sqrt(2) * eval_std)


def compare(curves: dict[str, dict], eval_std: dict[str, float], keys: list[str]) -> dict[str, dict]:
    """Whether the method works, answered from the curves at the last common step (each with its noise).

    * ``vote_vs_random``: label-free minus random, per figure;
    * ``drop_from_peak``: label-free's best mean minus its last, per figure (a gain that does not hold);
    * ``maj_vs_supervised``: label-free's maj@n gain minus supervised's.
    """
    out: dict[str, dict] = {}
    label_free, random, supervised = (curves.get(a) for a in ("label-free", "random", "supervised"))
    if label_free and random:
        out["vote_vs_random"] = {k: _difference(label_free, random, k, eval_std) for k in keys}
    if label_free:
        out["drop_from_peak"] = {k: _drop(label_free, k, eval_std) for k in keys}
    maj = next(k for k in keys if k.startswith("maj_at_"))
    if label_free and supervised:
        out["maj_vs_supervised"] = _difference(label_free, supervised, maj, eval_std)
    return out


def _difference(a: dict, b: dict, key: str, eval_std: dict[str, float]) -> dict:
    step = max(set(a["steps"]) & set(b["steps"]))
    i, j = a["steps"].index(step), b["steps"].index(step)
    diff = a[key]["mean"][i] - b[key]["mean"][j]
    noise = noise_of_difference(a[key]["std"][i], b[key]["std"][j], eval_std.get(key, 0.0))
    return {"step": step, "difference": diff, "noise": noise, "beyond_noise": abs(diff) > noise}


def _drop(arm: dict, key: str, eval_std: dict[str, float]) -> dict:
    means, stds = arm[key]["mean"], arm[key]["std"]
    peak = max(range(len(means)), key=means.__getitem__)
    drop = means[peak] - means[-1]
    noise = noise_of_difference(stds[peak], stds[-1], eval_std.get(key, 0.0))
    return {"peak_step": arm["steps"][peak], "drop": drop, "noise": noise, "beyond_noise": drop > noise}


def _std(values: list[float]) -> float | None:
    """The std over seeds; ``None`` for one seed (JSON has no NaN, and NaN != NaN breaks comparisons)."""
    return statistics.stdev(values) if len(values) > 1 else None


def _none_to_zero(value: float | None) -> float:
    return 0.0 if value is None else value
