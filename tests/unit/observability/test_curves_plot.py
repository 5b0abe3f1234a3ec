"""curves.png from a metrics.jsonl: a valid PNG of the fixed size, written atomically, sparse eval included."""

import pytest
from PIL import Image

from megatron_mmupt.observability.metrics_file import MetricsFile
from megatron_mmupt.observability.plot import FIGURE_SIZE_PX, PANELS, PLOT_FILE, plot_curves


def write_run(path, num_steps=30):
    f = MetricsFile(path)
    for step in range(1, num_steps + 1):
        f.append(
            step,
            {
                "reward/mean": 0.5 + 0.01 * step,
                "vote/majority_ratio": 0.6 + 0.01 * step,
                "vote/answer_rate": 0.9,
                "label/pass_at_1": 0.4 + 0.005 * step,
                "response_length/mean": 300.0 - step,
                "entropy/mean": 0.8 - 0.01 * step,
                "kl/mean": 1e-4 * step,
                "policy/approx_kl": float("nan") if step == 3 else 1e-5 * step,  # written as null, skipped
                "time/rollout": 20.0,
                "time/train": 30.0,
                "time/train/logprobs": 10.0,
                "time/step": 55.0,
                "perf/tokens_per_s": 1500.0,
                "vote/answer_entropy": 1.2 - 0.01 * step,
                "guard/alarm": float(step > 25),
            },
        )
        if step % 10 == 0:  # held-out evaluation every 10 steps
            f.append(step, {"eval/pass_at_1": 0.6 + step / 1000, "eval/maj_at_8": 0.7, "eval/questions": 16.0})
    f.close()


@pytest.mark.slow  # importing matplotlib and drawing 9 panels: about 2-3 s on this 2-core machine
def test_png_of_the_expected_size_next_to_the_metrics(tmp_path):
    metrics = tmp_path / "run" / "metrics.jsonl"
    write_run(metrics)
    out = plot_curves(metrics)
    assert out == tmp_path / "run" / PLOT_FILE
    with Image.open(out) as image:
        image.verify()  # a complete, valid PNG
    with Image.open(out) as image:
        assert image.format == "PNG" and image.size == FIGURE_SIZE_PX
        # the figure is not blank: lines of several colors are drawn
        colors = image.convert("RGB").getcolors(maxcolors=1 << 16)
        assert colors is None or len(colors) > 50
    assert [p.name for p in tmp_path.joinpath("run").iterdir()] in (
        ["metrics.jsonl", "curves.png"],
        ["curves.png", "metrics.jsonl"],
    )  # no temporary file left behind


def test_panels_select_the_documented_keys():
    keys = [
        "reward/mean",
        "label/pass_at_1",
        "eval/pass_at_1",
        "eval/maj_at_8",
        "eval/questions",
        "time/rollout",
        "time/train",
        "time/train/logprobs",
        "time/step",
        "time/other",
        "guard/alarm",
        "vote/answer_entropy",
        "entropy/sampled_tokens",
    ]
    select = dict(PANELS)
    assert select["accuracy"](keys) == ["label/pass_at_1", "eval/maj_at_8", "eval/pass_at_1"]
    assert select["time per stage (s)"](keys) == ["time/other", "time/rollout", "time/train", "time/step"]
    assert select["reward"](keys) == ["reward/mean"] and select["entropy"](keys) == ["entropy/sampled_tokens"]
    assert select["collapse guard"](keys) == ["vote/answer_entropy", "guard/alarm"]
    assert len(PANELS) == 9
