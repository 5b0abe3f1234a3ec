"""The main job's before/after table (markdown) and chart (PNG) from its ``summary.json`` dict."""

from __future__ import annotations

from pathlib import Path

from megatron_mmupt.utils.atomic import atomic_writer

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd")
"""One colour per mode, in the order modes first appear among the runs."""


def _pct(value: float) -> str:
    return f"{100 * value:.1f}"


def _delta(value: float) -> str:
    return f"{100 * value:+.1f}"


def _gain(mean: dict, key: str) -> str:
    spread = f" ± {100 * mean['std_gain_' + key]:.1f}" if f"std_gain_{key}" in mean else ""
    return _delta(mean[f"gain_{key}"]) + spread


def format_summary(summary: dict) -> str:
    """Held-out pass@1 / maj@n in percent: the base model, every run, the mean of each mode, and time per stage."""
    before = summary["before"]
    maj = next(k for k in before if k.startswith("maj_at_"))
    n = maj.removeprefix("maj_at_")
    lines = [
        f"Held-out accuracy on {summary['questions']} demo questions, {summary['samples_per_question']} samples "
        f"each at T={summary['temperature']}, after {summary['steps']} steps (percent):",
        "",
        f"| run | seed | pass@1 | gain | maj@{n} | gain |",
        "|---|---|---|---|---|---|",
        f"| base model | - | {_pct(before['pass_at_1'])} | | {_pct(before[maj])} | |",
    ]
    for run in summary["runs"]:
        after = run["after"]
        lines.append(
            f"| {run['mode']} | {run['seed']} | {_pct(after['pass_at_1'])} | "
            f"{_delta(after['pass_at_1'] - before['pass_at_1'])} | {_pct(after[maj])} | "
            f"{_delta(after[maj] - before[maj])} |"
        )
    for mode, mean in summary["mean_after"].items():
        if mean:
            lines.append(
                f"| **{mode} (mean)** | | **{_pct(mean['pass_at_1'])}** | **{_gain(mean, 'pass_at_1')}** | "
                f"**{_pct(mean[maj])}** | **{_gain(mean, maj)}** |"
            )
    if any("std_gain_pass_at_1" in mean for mean in summary["mean_after"].values()):
        lines += ["", "Mean gains: mean ± standard deviation over the seeds."]
    noise = summary.get("eval_noise")
    if noise:  # the yardstick for "beyond noise": how far the base model's own figures move between sample seeds
        lines += [
            "",
            f"One evaluation's own spread (the base model under {len(noise['eval_seeds'])} sample seeds, std): "
            f"pass@1 {_pct(noise['std']['pass_at_1'])}, maj@{n} {_pct(noise['std'][maj])}.",
        ]
    lines += ["", "Seconds per stage, summed over each run's steps:", "", *_time_table(summary["runs"])]
    return "\n".join(lines)


def _time_table(runs: list[dict]) -> list[str]:
    stages = [s for s in runs[0]["time"] if "/" not in s and s != "other"] if runs else []
    rows = [f"| run | {' | '.join(stages)} |", "|---|" + "---|" * len(stages)]
    for run in runs:
        cells = " | ".join(f"{run['time'].get(s, 0.0):.1f}" for s in stages)
        rows.append(f"| {run['mode']} seed {run['seed']} | {cells} |")
    return rows


def plot_summary(summary: dict, out: Path) -> Path:
    """Bars of held-out pass@1 and maj@n: base model, then each run (one colour per mode)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    before = summary["before"]
    maj = next(k for k in before if k.startswith("maj_at_"))
    figure = Figure(figsize=(10, 4.5), dpi=100)
    FigureCanvasAgg(figure)
    for index, (key, title) in enumerate((("pass_at_1", "held-out pass@1"), (maj, f"held-out {maj}"))):
        axes = figure.add_subplot(1, 2, index + 1)
        labels, values = ["base"], [before[key]]
        for run in summary["runs"]:
            labels.append(f"{run['mode']}\nseed {run['seed']}")
            values.append(run["after"][key])
        modes = list(dict.fromkeys(r["mode"] for r in summary["runs"]))
        colors = ["#888888"] + [PALETTE[modes.index(r["mode"]) % len(PALETTE)] for r in summary["runs"]]
        axes.bar(range(len(values)), values, color=colors)
        axes.axhline(before[key], color="#444444", linestyle="--", linewidth=1)
        if summary.get("eval_noise"):  # the base model's figure +/- one evaluation's spread
            spread = summary["eval_noise"]["std"][key]
            axes.axhspan(before[key] - spread, before[key] + spread, color="#444444", alpha=0.12, linewidth=0)
        axes.set_xticks(range(len(labels)), labels, fontsize=7)
        axes.set_title(title)
        axes.set_ylim(0, min(1.0, max(values) * 1.25 + 0.02))
    figure.suptitle(summary.get("title", "MM-UPT demo"))
    figure.tight_layout()
    with atomic_writer(out, "wb", encoding=None) as f:
        figure.savefig(f, format="png")
    return out


LABELS = {"greedy": "greedy", "pass_at_1": "pass@1", "majority_ratio": "majority share"}
"""How each held-out figure is named in the table and the chart (``maj_at_n`` -> ``maj@n``)."""


def _label(key: str) -> str:
    return LABELS.get(key, key.replace("_at_", "@"))


def _pm(mean: float, std: float | None) -> str:
    return _pct(mean) + ("" if std is None else f" ± {100 * std:.1f}")


def format_curves(summary: dict) -> str:
    """The main job's report: the last step per arm, the curves per figure, the comparisons, the noise, times."""
    curves, noise = summary["curves"], summary["eval_noise"]
    keys = [k for k in next(iter(curves.values())) if k not in ("steps", "seeds")]
    seeds = sorted({s for arm in curves.values() for s in arm["seeds"]})
    lines = [
        f"Held-out accuracy on {summary['questions']} demo questions (percent), mean ± std over seeds {seeds}: "
        f"greedy = one greedy answer per question; pass@1, maj@{summary['samples_per_question']} and the majority "
        f"share from {summary['samples_per_question']} samples at T={summary['temperature']}. Step 0 is the base "
        "model.",
        "",
        "| arm | step | " + " | ".join(_label(k) for k in keys) + " | first guard alarm |",
        "|---|---|" + "---|" * (len(keys) + 1),
    ]
    for arm, curve in curves.items():
        alarms = [r["first_alarm"] for r in summary["runs"] if r["mode"] == arm]
        cells = " | ".join(f"{_pm(curve[k]['mean'][-1], curve[k]['std'][-1])} ({_gain_of(curve, k)})" for k in keys)
        lines.append(f"| {arm} | {curve['steps'][-1]} | {cells} | {', '.join(map(_alarm, alarms))} |")
    for key in keys:
        steps = max((c["steps"] for c in curves.values()), key=len)
        lines += ["", f"{_label(key)} by step:", "", "| arm | " + " | ".join(map(str, steps)) + " |"]
        lines.append("|---|" + "---|" * len(steps))
        for arm, curve in curves.items():
            by_step = dict(zip(curve["steps"], zip(curve[key]["mean"], curve[key]["std"], strict=True), strict=True))
            lines.append(f"| {arm} | " + " | ".join(_pm(*by_step[s]) if s in by_step else "" for s in steps) + " |")
    lines += ["", *_comparison_lines(summary.get("comparisons", {}))]
    spread = ", ".join(f"{_label(k)} {100 * v:.1f}" for k, v in noise["std"].items())
    lines += ["", f"One evaluation's own spread (the base model under {len(noise['eval_seeds'])} sample seeds, std): "
              f"{spread} (greedy draws nothing)."]  # fmt: skip
    lines += ["", "Seconds per stage, summed over each run's steps:", "", *_time_table(summary["runs"])]
    return "\n".join(lines)


def _gain_of(curve: dict, key: str) -> str:
    return _delta(curve[key]["mean"][-1] - curve[key]["mean"][0])


def _alarm(step: int | None) -> str:
    return "none" if step is None else f"step {step}"


def _comparison_lines(comparisons: dict) -> list[str]:
    """Each comparison in points, with its noise and whether it is beyond it (``curves.compare``)."""
    lines = ["Comparisons at the last step (points; noise: the seeds' spread of both figures, or the evaluation's"
             " own spread, whichever is larger):", ""]  # fmt: skip
    for key, c in comparisons.get("vote_vs_random", {}).items():
        lines.append(f"* label-free − random, {_label(key)}: {_verdict(c['difference'], c)}")
    for key, c in comparisons.get("drop_from_peak", {}).items():
        lines.append(f"* label-free {_label(key)}, peak (step {c['peak_step']}) − last: {_verdict(c['drop'], c)}")
    if "maj_vs_supervised" in comparisons:
        c = comparisons["maj_vs_supervised"]
        lines.append(f"* maj gain, label-free − supervised: {_verdict(c['difference'], c)}")
    return lines if len(lines) > 2 else []


def _verdict(value: float, comparison: dict) -> str:
    within = "beyond" if comparison["beyond_noise"] else "within"
    return f"{_delta(value)} (noise {100 * comparison['noise']:.1f}: {within} the noise)"


def plot_curves(summary: dict, out: Path) -> Path:
    """One panel per held-out figure: each arm's mean over seeds by step with std error bars; the base model's
    figure with the evaluation's own spread as a grey band."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    curves, spread = summary["curves"], summary["eval_noise"]["std"]
    keys = [k for k in next(iter(curves.values())) if k not in ("steps", "seeds")]
    figure = Figure(figsize=(4 * len(keys), 4), dpi=100)
    FigureCanvasAgg(figure)
    for index, key in enumerate(keys):
        axes = figure.add_subplot(1, len(keys), index + 1)
        base = summary["before"][key]
        axes.axhspan(base - spread.get(key, 0.0), base + spread.get(key, 0.0), color="#444444", alpha=0.12, lw=0)
        axes.axhline(base, color="#444444", linestyle="--", linewidth=1)
        for color, (arm, curve) in zip(PALETTE, curves.items(), strict=False):
            std = [0.0 if v is None else v for v in curve[key]["std"]]
            axes.errorbar(curve["steps"], curve[key]["mean"], yerr=std, color=color, capsize=3, marker="o",
                          markersize=3, label=f"{arm} ({len(curve['seeds'])} seeds)")  # fmt: skip
        axes.set_title(f"held-out {_label(key)}")
        axes.set_xlabel("step")
        if index == 0:
            axes.legend(fontsize=7)
    figure.suptitle(summary.get("title", "MM-UPT demo"))
    figure.tight_layout()
    with atomic_writer(out, "wb", encoding=None) as f:
        figure.savefig(f, format="png")
    return out
