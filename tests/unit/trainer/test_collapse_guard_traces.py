"""The guard's defaults on recorded demo runs: alarm on the collapsing setting before its held-out pass@1 falls,
stay silent on the adopted setting and on the supervised arm.

The traces (``collapse_traces.json``, written by ``tools/record_guard_traces.py`` from real 40-step demo runs)
hold each step's label-free signals and the runs' held-out curves; replaying them through the guard takes
milliseconds, so the defaults cannot drift without this test failing.
"""

import json
import math
from pathlib import Path

import pytest

from megatron_mmupt.trainer.collapse_guard import CollapseGuard, replay
from megatron_mmupt.trainer.collapse_signals import CollapseSignals

DOCUMENT = json.loads((Path(__file__).parent / "collapse_traces.json").read_text())
TRACES = DOCUMENT["traces"]
COLLAPSING = [name for name in TRACES if name.startswith("collapsing")]
STABLE = [name for name in TRACES if not name.startswith("collapsing")]


def signals(trace: dict):
    keys = trace["signal_keys"]
    for step, *values in trace["signals"]:
        yield step, CollapseSignals.from_metrics(dict(zip(keys, values, strict=True)))


def fall_step(trace: dict) -> int | None:
    """The first evaluation at which held-out pass@1 is below its best so far by more than the noise of a
    difference of two evaluations (sqrt(2) x the evaluation's own std)."""
    noise = math.sqrt(2) * DOCUMENT["pass_at_1_eval_std"]
    column = trace["eval_keys"].index("eval/pass_at_1") + 1
    peak = -1.0
    for row in trace["eval"]:
        if row[column] < peak - noise:
            return row[0]
        peak = max(peak, row[column])
    return None


def test_the_traces_cover_both_kinds_of_run():
    assert COLLAPSING and {"adopted", "supervised"} <= set(STABLE)
    for name in COLLAPSING:
        assert fall_step(TRACES[name]) is not None, f"{name}: pass@1 never falls beyond the noise"
    for name in STABLE:
        assert len(TRACES[name]["signals"]) >= 40 and fall_step(TRACES[name]) is None, name


@pytest.mark.parametrize("name", COLLAPSING)
def test_the_defaults_alarm_on_a_collapsing_run_before_its_accuracy_falls(name):
    alarms = replay(CollapseGuard.Config(), signals(TRACES[name]))
    assert alarms, f"{name}: no alarm"
    assert alarms[0] <= fall_step(TRACES[name]), f"{name}: first alarm {alarms[0]}, fall {fall_step(TRACES[name])}"


@pytest.mark.parametrize("name", STABLE)
def test_the_defaults_stay_silent_on_stable_runs(name):
    assert replay(CollapseGuard.Config(), signals(TRACES[name])) == []


def test_the_previous_defaults_alarmed_too_late():
    """What this test guards against: the thresholds before these traces alarmed after the fall (or never)."""
    previous = CollapseGuard.Config(max_share_rise=0.15, max_unanimous_rate=0.5, min_entropy_ratio=0.5,
                                    max_reference_kl=None)  # fmt: skip
    for name in COLLAPSING:
        alarms = replay(previous, signals(TRACES[name]))
        assert not alarms or alarms[0] > fall_step(TRACES[name])
