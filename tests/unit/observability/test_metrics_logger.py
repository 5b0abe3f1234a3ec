"""MetricsLogger: config checks, value conversion, jsonl, console, TensorBoard, resume, disabled ranks."""

import io

import pytest
import torch

from megatron_mmupt.config.configurable import ConfigError
from megatron_mmupt.observability.logger import MetricsLogger, to_floats
from megatron_mmupt.observability.metrics_file import read_metrics


def quiet_config(**overrides) -> MetricsLogger.Config:
    return MetricsLogger.Config(**({"console": False, "plot": False} | overrides))


def step_metrics(step: int) -> dict:
    return {
        "reward/mean": torch.tensor(0.1 * step),  # 0-d tensors, as the algorithm stage returns them
        "kl/mean": torch.tensor(1e-3 * step, dtype=torch.float64),
        "num_tokens": torch.tensor(100 * step),
        "label/pass_at_1": 0.5,
        "time/step": 2.0,
    }


def test_config_validation():
    with pytest.raises(ConfigError, match="wandb_mode='cloud' is not valid; choose one of: auto, online"):
        MetricsLogger.Config(wandb_mode="cloud")
    with pytest.raises(ConfigError, match="log_every"):
        MetricsLogger.Config(log_every=0)
    with pytest.raises(ConfigError, match="wandb_project"):
        MetricsLogger.Config(wandb=True, wandb_project="")


def test_to_floats_converts_tensors_and_numbers_and_refuses_the_rest():
    import numpy as np

    values = to_floats({"b": torch.tensor([2.5]), "a": 1, "c": np.float32(0.5), "d": True})
    assert values == {"b": 2.5, "a": 1.0, "c": 0.5, "d": 1.0}
    assert list(values) == ["b", "a", "c", "d"]  # order kept
    with pytest.raises(TypeError, match="'x' is a tensor of shape \\(2,\\)"):
        to_floats({"x": torch.ones(2)})
    with pytest.raises(TypeError, match="'y' is a str"):
        to_floats({"y": "high"})


def test_log_writes_every_step_to_jsonl(tmp_path):
    with quiet_config().build(run_dir=tmp_path / "run", total_steps=3) as logger:
        for step in (1, 2, 3):
            logged = logger.log(step, step_metrics(step))
    assert logged["num_tokens"] == 300.0
    records = read_metrics(tmp_path / "run" / "metrics.jsonl")
    assert [r["step"] for r in records] == [1, 2, 3]
    assert records[1]["reward/mean"] == pytest.approx(0.2)
    assert records[2]["kl/mean"] == pytest.approx(3e-3)
    assert set(records[0]) == {
        "step",
        "wall_time",
        "reward/mean",
        "kl/mean",
        "num_tokens",
        "label/pass_at_1",
        "time/step",
    }
    with pytest.raises(RuntimeError, match="after close"):
        logger.log(4, {"a": 1.0})
    logger.close()  # a second close is a no-op


def test_resumed_logger_keeps_only_the_steps_before_the_resume(tmp_path):
    config = quiet_config()
    with config.build(run_dir=tmp_path, total_steps=10) as logger:
        for step in range(1, 7):
            logger.log(step, {"reward/mean": 0.0})
    with config.build(run_dir=tmp_path, total_steps=10, resume_step=3) as logger:
        for step in range(4, 6):
            logger.log(step, {"reward/mean": 1.0})
    records = read_metrics(tmp_path / "metrics.jsonl")
    assert [(r["step"], r["reward/mean"]) for r in records] == [(1, 0.0), (2, 0.0), (3, 0.0), (4, 1.0), (5, 1.0)]


def test_console_progress_bar_and_metric_lines(tmp_path):
    out = io.StringIO()
    config = MetricsLogger.Config(console=True, plot=False, log_every=2)
    with config.build(run_dir=tmp_path, total_steps=10, console_file=out) as logger:
        for step in (1, 2, 3):
            logger.log(step, step_metrics(step) | {"entropy/mean": 0.75, "perf/tokens_per_s": 1234.5})
    text = out.getvalue()
    assert "3/10" in text  # the bar's step count
    assert "reward=0.3" in text and "pass@1=0.5" in text and "kl=0.003" in text and "tok/s=1234" in text
    assert "step 2/10 | " in text and "step 1/10" not in text and "step 3/10 |" not in text  # every log_every steps


def test_tensorboard_writes_event_files(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    config = quiet_config(tensorboard=True)
    with config.build(run_dir=tmp_path, total_steps=2, run_config={"seed": 1}) as logger:
        logger.log(1, {"reward/mean": 0.25})
        logger.log(2, {"reward/mean": 0.75})
    events = list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    assert len(events) == 1
    acc = EventAccumulator(str(tmp_path / "tensorboard"))
    acc.Reload()
    assert [(e.step, e.value) for e in acc.Scalars("reward/mean")] == [(1, 0.25), (2, 0.75)]


def test_disabled_logger_touches_nothing(tmp_path):
    config = MetricsLogger.Config(console=True, plot=True, tensorboard=True, wandb=True)
    logger = config.build(run_dir=tmp_path / "rank1", total_steps=5, enabled=False)
    assert logger.log(1, {"reward/mean": 1.0}) == {}
    logger.close()
    assert not (tmp_path / "rank1").exists()


def test_plot_is_drawn_every_log_every_steps_and_at_close(tmp_path, monkeypatch):
    import megatron_mmupt.observability.logger as logger_module

    drawn = []  # the last step in metrics.jsonl at each drawing (the drawing itself: test_curves_plot.py)
    monkeypatch.setattr(logger_module, "plot_curves", lambda src, out: drawn.append(read_metrics(src)[-1]["step"]))
    logger = MetricsLogger.Config(console=False, plot=True, log_every=2).build(run_dir=tmp_path, total_steps=5)
    for step in (1, 2, 2, 3):  # step 2 logged twice (training, then evaluation): drawn once
        logger.log(step, {"reward/mean": 0.1 * step})
    assert drawn == [2]
    logger.close()
    assert drawn == [2, 3]  # the final state, at close


def test_a_failing_plot_warns_instead_of_ending_the_run(tmp_path, monkeypatch):
    import megatron_mmupt.observability.logger as logger_module

    def broken(src, out):
        raise OSError("disk full")

    monkeypatch.setattr(logger_module, "plot_curves", broken)
    logger = MetricsLogger.Config(console=False, log_every=1).build(run_dir=tmp_path, total_steps=1)
    with pytest.warns(UserWarning, match="could not draw .*curves.png.*disk full"):
        logger.log(1, {"reward/mean": 1.0})
    logger.close()
    assert read_metrics(logger.metrics_path)[0]["reward/mean"] == 1.0


def test_value_formatting():
    from megatron_mmupt.observability.progress import format_postfix, format_value

    assert [format_value(v) for v in (12.0, 0.51234, 1.3e-5, 34938.8, 1.23e6, float("nan"))] == [
        "12",
        "0.5123",
        "1.3e-05",
        "34.9k",
        "1.23M",
        "nan",
    ]
    postfix = format_postfix({"kl/mean": 0.002, "reward/mean": 0.5, "label/label_accuracy": 0.75, "other": 1.0})
    assert postfix == "reward=0.5 label_acc=0.75 kl=0.002"
