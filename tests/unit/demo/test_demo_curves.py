"""The main job's curves: per-arm mean ± std by step, the comparisons against their noise, the table and chart."""

import json

import pytest

from megatron_mmupt.demo.curves import arm_curves, compare, figure_keys, first_alarm, noise_of_difference, read_curve
from megatron_mmupt.demo.main_job import curves_summary
from megatron_mmupt.demo.report import format_curves, plot_curves
from megatron_mmupt.recipes import resolve_run_config
from megatron_mmupt.trainer.collapse_guard import CollapseGuard

KEYS = figure_keys(8)
BEFORE = {"greedy": 0.40, "pass_at_1": 0.30, "maj_at_8": 0.50, "majority_ratio": 0.45, "questions": 500.0}
NOISE = {"eval_seeds": [1234, 1, 2], "each": [], "std": {"greedy": 0.0, "pass_at_1": 0.005, "maj_at_8": 0.01,
                                                         "majority_ratio": 0.004}}  # fmt: skip


def run(mode, seed, *points, alarm=None):
    """``points``: (step, greedy, pass@1, maj@8, share) after the base model's step 0."""
    curve = [{"step": p[0], **dict(zip(KEYS, p[1:], strict=True))} for p in points]
    after = {k: v for k, v in curve[-1].items() if k != "step"} | {"questions": 500.0}
    return {"mode": mode, "seed": seed, "after": after, "curve": curve, "first_alarm": alarm, "time": {"step": 1.0}}


RUNS = [
    run("random", 1, (10, 0.41, 0.31, 0.50, 0.47), (20, 0.41, 0.31, 0.49, 0.48)),
    run("random", 2, (10, 0.40, 0.30, 0.50, 0.47), (20, 0.42, 0.32, 0.50, 0.49)),
    run("label-free", 1, (10, 0.46, 0.35, 0.49, 0.50), (20, 0.47, 0.36, 0.48, 0.52)),
    run("label-free", 2, (10, 0.45, 0.34, 0.49, 0.50), (20, 0.46, 0.37, 0.47, 0.53), alarm=17),
    run("supervised", 1, (10, 0.47, 0.36, 0.50, 0.50), (20, 0.49, 0.38, 0.50, 0.52)),
]


def test_curves_are_the_mean_and_std_over_seeds_with_the_base_model_at_step_0():
    curves = arm_curves(BEFORE, RUNS, KEYS)
    assert list(curves) == ["random", "label-free", "supervised"]
    label_free = curves["label-free"]
    assert label_free["steps"] == [0, 10, 20] and label_free["seeds"] == [1, 2]
    assert label_free["pass_at_1"]["mean"] == pytest.approx([0.30, 0.345, 0.365])
    assert label_free["pass_at_1"]["std"][1] == pytest.approx(0.00707, abs=1e-5)
    assert curves["supervised"]["greedy"]["std"][2] is None  # one seed: no spread


def test_comparisons_weigh_each_difference_against_its_noise():
    comparisons = compare(arm_curves(BEFORE, RUNS, KEYS), NOISE["std"], KEYS)
    greedy = comparisons["vote_vs_random"]["greedy"]
    assert greedy["step"] == 20 and greedy["difference"] == pytest.approx(0.05) and greedy["beyond_noise"]
    share = comparisons["vote_vs_random"]["majority_ratio"]
    assert share["difference"] == pytest.approx(0.04) and share["beyond_noise"]
    assert not comparisons["drop_from_peak"]["pass_at_1"]["beyond_noise"]  # still rising
    assert comparisons["drop_from_peak"]["maj_at_8"]["peak_step"] == 0
    assert comparisons["maj_vs_supervised"]["difference"] == pytest.approx(-0.025)
    # the evaluation's own spread is the floor of the noise: sqrt(2) x 0.01
    assert noise_of_difference(0.001, None, 0.01) == pytest.approx(0.0141421, abs=1e-6)


def test_the_report_shows_every_arm_curve_and_verdict(tmp_path):
    summary = curves_summary(BEFORE, RUNS, resolve_run_config("demo", []), NOISE)
    table = format_curves(summary)
    assert "| label-free | 20 | 46.5 ± 0.7 (+6.5) | 36.5 ± 0.7 (+6.5) | 47.5 ± 0.7 (-2.5) |" in table
    assert "| none, step 17 |" in table and "| supervised | 20 |" in table
    assert "| random | 30.0 ± 0.0 | 30.5 ± 0.7 | 31.5 ± 0.7 |" in table  # pass@1 by step
    assert "* label-free − random, greedy: +5.0 (noise 1.0: beyond the noise)" in table
    assert "(the base model under 3 sample seeds, std): greedy 0.0, pass@1 0.5" in table
    assert json.loads(json.dumps(summary, allow_nan=False)) == summary  # summary.json: plain JSON, round-trips
    assert plot_curves(summary, tmp_path / "summary.png").read_bytes()[:4] == b"\x89PNG"


def test_a_run_curve_and_its_first_alarm_come_from_its_metrics_file(tmp_path):
    def votes(share):
        return {"vote/majority_ratio": share, "vote/answer_entropy": 1.0, "vote/distinct_answers": 3.0,
                "vote/unanimous_rate": 0.0, "entropy/sampled_tokens": 0.3}  # fmt: skip

    records = [
        {"step": 0, "eval/greedy": 0.4, "eval/pass_at_1": 0.3, "eval/maj_at_8": 0.5, "eval/majority_ratio": 0.45},
        {"step": 1, **votes(0.5)},
        {"step": 2, **votes(0.7), "eval/greedy": 0.5, "eval/pass_at_1": 0.4, "eval/maj_at_8": 0.6,
         "eval/majority_ratio": 0.5},
    ]  # fmt: skip
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text("".join(json.dumps(r) + "\n" for r in records))
    assert [p["step"] for p in read_curve(metrics, KEYS)] == [0, 2] and read_curve(metrics, KEYS)[1]["greedy"] == 0.5
    only_share = CollapseGuard.Config(max_majority_share=0.6, max_share_rise=None, max_unanimous_rate=None,
                                      min_entropy_ratio=None, smoothing=1.0)  # fmt: skip
    assert first_alarm(metrics, only_share) == 2  # replayed from the logged signals
    assert first_alarm(metrics, CollapseGuard.Config(max_majority_share=0.8, smoothing=1.0)) is None
