"""``curves.png``: the main curves of a run, drawn from its ``metrics.jsonl``.

A fixed grid of 3 x 3 panels (1600 x 1200 pixels), one per question a run raises; a panel with no data says so:

reward          ``reward/mean``
vote            ``vote/majority_ratio`` (-> 1 when the policy collapses), ``vote/answer_rate``
accuracy        ``label/pass_at_1``, ``label/maj_at_k``, ``label/label_accuracy`` (training batches with labels)
                and the held-out ``eval/pass_at_1`` / ``eval/maj_at_<n>`` (sparse steps, with markers)
response length ``response_length/mean`` / ``max``
entropy         ``entropy/mean`` (the policy's, in the update), ``entropy/sampled_tokens`` (estimated from the rollouts)
KL              ``kl/mean`` (to the reference), ``policy/approx_kl`` (old -> new), ``mismatch/k3_kl`` (rollout -> train)
time per stage  every top-level ``time/<stage>``, and ``time/step`` dashed
throughput      ``perf/tokens_per_s``, ``perf/rollout_tokens_per_s``
collapse guard  ``vote/answer_entropy``, ``vote/unanimous_rate``, ``guard/share_rise``, ``guard/entropy_ratio``,
                ``guard/alarm`` (1 on the steps the guard alarmed; ``trainer/collapse_guard.py``)

Drawn with matplotlib's object API on the Agg canvas (no pyplot, no global backend switch, safe off the main
thread) and written atomically, so a viewer never sees half a PNG. ``python -m megatron_mmupt.observability.plot
<run_dir>/metrics.jsonl`` redraws it by hand.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from pathlib import Path

from megatron_mmupt.observability.metrics_file import merge_steps, read_metrics
from megatron_mmupt.utils.atomic import atomic_writer

PLOT_FILE = "curves.png"
FIGURE_SIZE_PX = (1600, 1200)
_DPI = 100


def _named(*names: str) -> Callable[[list[str]], list[str]]:
    return lambda keys: [n for n in names if n in keys]


def _accuracy(keys: list[str]) -> list[str]:
    evals = sorted(k for k in keys if k.startswith("eval/") and ("pass_at_1" in k or "maj_at" in k))
    return _named("label/pass_at_1", "label/maj_at_k", "label/label_accuracy")(keys) + evals


def _stages(keys: list[str]) -> list[str]:
    top = sorted(k for k in keys if k.startswith("time/") and k.count("/") == 1 and k != "time/step")
    return top + (["time/step"] if "time/step" in keys else [])


PANELS: tuple[tuple[str, Callable[[list[str]], list[str]]], ...] = (
    ("reward", _named("reward/mean")),
    ("vote", _named("vote/majority_ratio", "vote/answer_rate")),
    ("accuracy", _accuracy),
    ("response length (tokens)", _named("response_length/mean", "response_length/max")),
    ("entropy", _named("entropy/mean", "entropy/sampled_tokens")),
    ("KL", _named("kl/mean", "policy/approx_kl", "mismatch/k3_kl")),
    ("time per stage (s)", _stages),
    ("throughput (tokens/s)", _named("perf/tokens_per_s", "perf/rollout_tokens_per_s")),
    (
        "collapse guard",
        _named("vote/answer_entropy", "vote/unanimous_rate", "guard/share_rise", "guard/entropy_ratio", "guard/alarm"),
    ),
)
"""``(title, keys to draw given all keys of the run)`` per panel, in grid order."""


def plot_curves(metrics_path: str | Path, out_path: str | Path | None = None) -> Path:
    """Draw the curves of ``metrics_path`` into ``out_path`` (default: ``curves.png`` beside it); returns it."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    metrics_path = Path(metrics_path)
    out_path = metrics_path.parent / PLOT_FILE if out_path is None else Path(out_path)
    steps = merge_steps(read_metrics(metrics_path))
    keys = sorted({k for record in steps for k in record})

    width, height = FIGURE_SIZE_PX
    fig = Figure(figsize=(width / _DPI, height / _DPI), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(3, 3, squeeze=False).flat
    for ax, (title, select) in zip(axes, PANELS, strict=True):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
        drawn = [key for key in select(keys) if _draw_series(ax, steps, key)]
        if drawn:
            ax.legend(fontsize=7, loc="best")
        else:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes, color="gray")
    fig.suptitle(metrics_path.parent.name, fontsize=11)
    with atomic_writer(out_path, "wb") as f:
        fig.savefig(f, format="png", dpi=_DPI)
    return out_path


def _draw_series(ax, steps: list[dict], key: str) -> bool:
    """Plot ``key`` over the steps where it is finite; markers for sparse series (evaluation). False if empty."""
    points = [(r["step"], r[key]) for r in steps if key in r and math.isfinite(r[key])]
    if not points:
        return False
    xs, ys = zip(*points, strict=True)
    sparse = len(points) < 0.5 * len(steps) or len(points) <= 20
    style = "--" if key == "time/step" else ("o-" if sparse else "-")
    ax.plot(xs, ys, style, label=key.split("/", 1)[1] if key.startswith("time/") else key, linewidth=1.2, markersize=3)
    return True


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: python -m megatron_mmupt.observability.plot <metrics.jsonl> [out.png]")
    print(plot_curves(*sys.argv[1:]))
