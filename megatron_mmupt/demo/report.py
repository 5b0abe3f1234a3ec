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
