"""The main job's table: per-seed rows, and the mean gain of each mode with its spread over the seeds."""

from megatron_mmupt.demo.main_job import summarize
from megatron_mmupt.demo.report import format_summary
from megatron_mmupt.recipes import resolve_run_config


def run(mode, seed, pass_at_1, maj):
    return {"mode": mode, "seed": seed, "after": {"pass_at_1": pass_at_1, "maj_at_8": maj}, "time": {"step": 1.0}}


def test_mean_rows_carry_the_std_over_seeds():
    before = {"pass_at_1": 0.30, "maj_at_8": 0.50, "questions": 1000.0}
    runs = [run("label-free", 1, 0.33, 0.49), run("label-free", 2, 0.35, 0.51), run("supervised", 1, 0.36, 0.50)]
    summary = summarize(before, runs, resolve_run_config("demo", []))
    label_free = summary["mean_after"]["label-free"]
    assert abs(label_free["gain_pass_at_1"] - 0.04) < 1e-12
    assert abs(label_free["std_gain_maj_at_8"] - 0.0141421356) < 1e-9
    assert "std_gain_pass_at_1" not in summary["mean_after"]["supervised"]  # one seed: no spread
    table = format_summary(summary)
    assert "| **label-free (mean)** | | **34.0** | **+4.0 ± 1.4** | **50.0** | **+0.0 ± 1.4** |" in table
    assert "| **supervised (mean)** | | **36.0** | **+6.0** | **50.0** | **+0.0** |" in table
    assert "mean ± standard deviation over the seeds" in table


def test_the_evaluation_spread_is_stated_beside_the_gains(tmp_path):
    from megatron_mmupt.demo.report import plot_summary

    before = {"pass_at_1": 0.30, "maj_at_8": 0.50, "questions": 1000.0}
    summary = summarize(before, [run("label-free", 1, 0.33, 0.49)], resolve_run_config("demo", []))
    assert "own spread" not in format_summary(summary)  # no spread measured: nothing claimed
    summary["eval_noise"] = {"eval_seeds": [1234, 1], "each": [], "std": {"pass_at_1": 0.008, "maj_at_8": 0.017}}
    table = format_summary(summary)
    assert "One evaluation's own spread (the base model under 2 sample seeds, std): pass@1 0.8, maj@8 1.7." in table
    assert plot_summary(summary, tmp_path / "summary.png").read_bytes()[:4] == b"\x89PNG"


def test_a_finished_run_is_reused_only_when_it_trained_the_same(tmp_path):
    from megatron_mmupt.config.serialization import write_config
    from megatron_mmupt.demo.main_job import _same_training, run_config

    def config(*overrides):
        return run_config(list(overrides), tmp_path, seed=1, mode="majority")

    write_config(config(), tmp_path)
    assert _same_training(tmp_path, config())
    assert _same_training(tmp_path, config("guard.max_share_rise=0.05"))  # warn only: the alarms are replayed
    assert not _same_training(tmp_path, config("guard.action=skip"))  # a guard that acts changes the training
    assert not _same_training(tmp_path, config("actor.optimizer.lr=2e-4"))
    assert not _same_training(tmp_path / "missing", config())
