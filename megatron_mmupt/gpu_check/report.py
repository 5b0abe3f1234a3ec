"""Run the check's sections in isolation and write one report.

A section is a function returning ``(figures, problems)``: the numbers it measured and, in words, every
sanity condition they fail (an empty list: passed). An exception is caught, its traceback recorded, and the
next section runs anyway: on a machine lent for minutes, one bug must not cost the other four figures.

    results = [run_section(name, fn) for name, fn in sections]
    write_report(path, header, results); print(render_table(results))
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

Figures = dict[str, Any]
SectionFn = Callable[[], tuple[Figures, list[str]]]


@dataclasses.dataclass(slots=True)
class SectionResult:
    name: str
    status: Literal["passed", "failed", "error"]
    """``failed``: it ran and a sanity condition does not hold; ``error``: it raised."""
    seconds: float
    figures: Figures
    problems: list[str]
    traceback: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "passed"


def _log(line: str) -> None:
    print(line, flush=True)  # progress must reach a log that is cut off at the machine's time limit


def run_section(name: str, fn: SectionFn, *, log: Callable[[str], None] = _log) -> SectionResult:
    log(f"[gpu_check] {name} ...")
    start = time.perf_counter()
    try:
        figures, problems = fn()
    except Exception as error:  # NOTE: recorded, not raised: the other sections must still run
        result = SectionResult(name, "error", time.perf_counter() - start, {}, [repr(error)], traceback.format_exc())
        log(result.traceback or "")
    else:
        status = "failed" if problems else "passed"
        result = SectionResult(name, status, time.perf_counter() - start, _finite(figures), problems)
    log(
        f"[gpu_check] {name}: {result.status} in {result.seconds:.1f} s"
        + "".join(f"\n  - {p}" for p in result.problems)
    )
    return result


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: they become ``None`` (and a sanity condition has already named them)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def write_report(path: Path, header: dict[str, Any], results: list[SectionResult]) -> dict[str, Any]:
    report = {
        **header,
        "passed": bool(header.get("complete", True)) and all(r.ok for r in results),
        "sections": {r.name: {k: v for k, v in dataclasses.asdict(r).items() if k != "name"} for r in results},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    return report


HEADLINES: dict[str, tuple[str, ...]] = {
    "parity": ("max_abs_logit_diff", "mean_abs_logit_diff", "hf_bf16_max_abs_diff_vs_fp32"),
    "grpo_step": ("step_seconds", "tokens_per_second", "mfu"),
    "offload": ("freed_bytes", "allocated_drop_bytes", "planner_training_peak_bytes", "measured_peak_bytes"),
    "engine": ("tokens_per_second", "prompt_tokens", "response_tokens_mean"),
    "ipc": ("bit_exact", "ipc_gb_per_s", "copy_gb_per_s"),
}
"""The figures the stdout table shows per section (the JSON report has all of them)."""


def render_table(results: list[SectionResult]) -> str:
    lines = ["| section | status | seconds | figures |", "|---|---|---|---|"]
    for r in results:
        shown = [f"{k}={_fmt(r.figures[k])}" for k in HEADLINES.get(r.name, ()) if k in r.figures]
        lines.append(f"| {r.name} | {r.status} | {r.seconds:.1f} | {', '.join(shown) or '-'} |")
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
