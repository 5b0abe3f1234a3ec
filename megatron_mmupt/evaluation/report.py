"""What an evaluation produces, and the three files it is written to.

    results.json   everything: model, sampling, grader, per benchmark its metrics, breakdowns, extra metrics,
                   skipped rows, cache use, and every question's samples (answers, classes, correctness)
    results.md     the tables: one row per benchmark, then each benchmark's breakdowns (percent)
    results.png    bars of pass@1 and maj@n: all benchmarks, then each benchmark's first breakdown

All three are written atomically (``utils.atomic``): a reader sees the previous file or the new one.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from megatron_mmupt.evaluation.metrics import Summary, majority_answer, majority_correct, pass_at_1
from megatron_mmupt.evaluation.results import ItemResult
from megatron_mmupt.utils.atomic import atomic_write_text, atomic_writer

FORMAT = "megatron_mmupt.eval/1"
RESULTS_JSON, RESULTS_MD, RESULTS_PNG = "results.json", "results.md", "results.png"


@dataclasses.dataclass(frozen=True, slots=True)
class BenchmarkResult:
    """One benchmark's outcome.

    Attributes:
        name, title: the benchmark (``benchmarks.BENCHMARKS``).
        source: its resolved data source config.
        items: one graded result per question, in file order.
        summary: the metrics over all questions.
        breakdowns: ``{breakdown: {group: Summary}}``, in the spec's order.
        extra: the benchmark's own metrics (We-Math's four dimensions), possibly empty.
        bad_rows: skipped rows by reason (listed in ``bad_rows/<name>.jsonl``).
        generated: questions sampled by this run; ``reused``: taken from the cache.
        unused_cache_records: records in the cache file from other models, sampling or prompts.
        seconds: wall time of this benchmark (encoding, sampling, grading).
    """

    name: str
    title: str
    source: dict[str, Any]
    items: tuple[ItemResult, ...]
    summary: Summary
    breakdowns: dict[str, dict[str, Summary]]
    extra: dict[str, float]
    bad_rows: dict[str, int]
    generated: int
    reused: int
    unused_cache_records: int
    seconds: float


@dataclasses.dataclass(frozen=True, slots=True)
class EvalReport:
    """A whole evaluation: the model, how it was sampled and graded, and each benchmark's result."""

    model: dict[str, Any]
    sampling: dict[str, Any]
    grader: dict[str, Any]
    benchmarks: tuple[BenchmarkResult, ...]
    seconds: float

    @property
    def n(self) -> int:
        return int(self.sampling["n"])


def write_report(report: EvalReport, out: str | Path) -> list[Path]:
    """``results.json``, ``results.md`` and ``results.png`` in ``out``; returns their paths."""
    out = Path(out)
    paths = [out / RESULTS_JSON, out / RESULTS_MD, out / RESULTS_PNG]
    atomic_write_text(paths[0], json.dumps(report_dict(report), indent=1, ensure_ascii=False) + "\n")
    atomic_write_text(paths[1], format_markdown(report) + "\n")
    plot_report(report, paths[2])
    return paths


def report_dict(report: EvalReport) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "model": report.model,
        "sampling": report.sampling,
        "grader": report.grader,
        "seconds": round(report.seconds, 2),
        "benchmarks": {b.name: _benchmark_dict(b) for b in report.benchmarks},
    }


def _benchmark_dict(result: BenchmarkResult) -> dict[str, Any]:
    return {
        "title": result.title,
        "source": result.source,
        "summary": result.summary.to_dict(),
        "breakdowns": {k: {g: s.to_dict() for g, s in groups.items()} for k, groups in result.breakdowns.items()},
        "extra": result.extra,
        "bad_rows": result.bad_rows,
        "generated": result.generated,
        "reused": result.reused,
        "unused_cache_records": result.unused_cache_records,
        "seconds": round(result.seconds, 2),
        "items": [item_record(item) for item in result.items],
    }


def item_record(item: ItemResult) -> dict[str, Any]:
    """One question in ``results.json``: its verdicts per sample and the vote's."""
    return {
        "id": item.id,
        "answer": item.answer,
        "pass_at_1": pass_at_1(item),
        "majority_answer": majority_answer(item),
        "majority_correct": majority_correct(item),
        "answers": list(item.answers),
        "class_ids": list(item.class_ids),
        "correct": list(item.correct),
        "num_tokens": list(item.num_tokens),
        "truncated": list(item.truncated),
        "metadata": dict(item.metadata),
    }


# --- markdown ---------------------------------------------------------------------------------------------


def format_markdown(report: EvalReport) -> str:
    """The overview table, then each benchmark's breakdowns and own metrics."""
    lines = [format_overview(report)]
    for b in report.benchmarks:
        lines += ["", *_benchmark_section(b, report.n)]
    return "\n".join(lines)


def format_overview(report: EvalReport) -> str:
    """The title, the settings, and one row per benchmark (what the command prints)."""
    sampling, n = report.sampling, report.n
    lines = [
        f"# Evaluation of {report.model['path']}",
        "",
        f"{n} samples per question at temperature {sampling['temperature']}, top-p {sampling['top_p']}, up to "
        f"{sampling['max_new_tokens']} new tokens, seed {sampling['seed']}. pass@1: mean correctness of the samples; "
        f"maj@{n}: correctness of their vote (ties: first sampled). Percent.",
        "",
        f"| benchmark | questions | pass@1 | maj@{n} | answer rate | ties | truncated | tokens |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for b in report.benchmarks:
        s = b.summary
        lines.append(
            f"| {b.title} | {s.questions} | {_pct(s.pass_at_1)} | {_pct(s.maj_at_n)} | {_pct(s.answer_rate)} | "
            f"{_pct(s.ties)} | {_pct(s.truncated)} | {s.response_length:.0f} |"
        )
    return "\n".join(lines)


def _benchmark_section(result: BenchmarkResult, n: int) -> list[str]:
    lines = [f"## {result.title}", ""]
    cache = f", {result.reused} from the cache" if result.reused else ""
    lines.append(
        f"{result.summary.questions} questions from `{result.source['path']}` ({result.generated} sampled{cache})."
    )
    if result.bad_rows:
        skipped = ", ".join(f"{reason}: {count}" for reason, count in sorted(result.bad_rows.items()))
        lines.append(f"Skipped rows: {skipped} (listed in bad_rows/{result.name}.jsonl).")
    for name, groups in result.breakdowns.items():
        lines += ["", f"| {name} | questions | pass@1 | maj@{n} |", "|---|---|---|---|"]
        lines += [f"| {g} | {s.questions} | {_pct(s.pass_at_1)} | {_pct(s.maj_at_n)} |" for g, s in groups.items()]
    if result.extra:
        keys = list(result.extra)
        lines += ["", f"Benchmark metrics (on the maj@{n} answers):", ""]
        lines += ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
        lines.append("| " + " | ".join(_extra(k, v) for k, v in result.extra.items()) + " |")
    return lines


def _extra(key: str, value: float) -> str:
    return f"{value:.0f}" if key == "problems" else _pct(value)


def _pct(value: float) -> str:
    return "-" if math.isnan(value) else f"{100 * value:.1f}"


# --- chart ------------------------------------------------------------------------------------------------


def plot_report(report: EvalReport, out: Path) -> Path:
    """Bars of pass@1 and maj@n per benchmark, then one panel per benchmark for its first breakdown."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    panels: list[tuple[str, Mapping[str, Summary]]] = [
        ("all benchmarks", {b.title: b.summary for b in report.benchmarks})
    ]
    for b in report.benchmarks:
        if b.breakdowns:
            name, groups = next(iter(b.breakdowns.items()))
            panels.append((f"{b.title} by {name}", groups))
    figure = Figure(figsize=(10, 3.4 * len(panels)), dpi=100)
    FigureCanvasAgg(figure)
    for index, (title, groups) in enumerate(panels):
        _bars(figure.add_subplot(len(panels), 1, index + 1), title, groups, report.n)
    figure.suptitle(f"{report.model['path']}: {report.n} samples per question, T={report.sampling['temperature']}")
    figure.tight_layout()
    with atomic_writer(out, "wb", encoding=None) as f:
        figure.savefig(f, format="png")
    return out


def _bars(axes: Any, title: str, groups: Mapping[str, Summary], n: int) -> None:
    labels = list(groups)
    width = 0.4
    for offset, (name, values, color) in enumerate(
        (
            ("pass@1", [100 * s.pass_at_1 for s in groups.values()], "#1f77b4"),
            (f"maj@{n}", [100 * s.maj_at_n for s in groups.values()], "#ff7f0e"),
        )
    ):
        bars = axes.bar(
            [i + (offset - 0.5) * width for i in range(len(labels))], values, width, label=name, color=color
        )
        axes.bar_label(bars, fmt="%.1f", fontsize=6)
    rotate = len(labels) > 6
    axes.set_xticks(range(len(labels)), _short(labels), fontsize=7, rotation=20 if rotate else 0,
                    ha="right" if rotate else "center")  # fmt: skip
    axes.set_xlim(-0.75, max(len(labels), 4) - 0.25)  # a lone group keeps the width of four
    axes.set_ylabel("percent")
    axes.set_ylim(0, 105)
    axes.set_title(title, fontsize=10)
    axes.legend(fontsize=8, loc="upper right")


def _short(labels: Sequence[str], limit: int = 28) -> list[str]:
    return [label if len(label) <= limit else label[: limit - 1] + "…" for label in labels]
