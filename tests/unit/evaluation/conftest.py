"""Fixtures of the evaluation tests: an engine that answers from a script and an eval config factory (PNGs: tests/conftest.py).

The scripted engine stands in where a test needs known answers (grading, breakdowns, resume bookkeeping);
sampling itself is the local engine's, exercised end to end in ``test_eval_command.py``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from megatron_mmupt.data.processing import Processors, load_processors
from megatron_mmupt.data.prompt_batch import PromptBatch
from megatron_mmupt.evaluation.benchmarks import benchmark_config
from megatron_mmupt.evaluation.model_source import resolve_model
from megatron_mmupt.evaluation.report import BenchmarkResult
from megatron_mmupt.evaluation.runner import EvalConfig, EvalDataConfig, Evaluator, apply_eval_overrides
from megatron_mmupt.rollout.engine import SamplingConfig
from megatron_mmupt.rollout.types import FinishReason, Rollout, RolloutGroup


class ScriptedEngine:
    """Answers prompt ``id`` with ``script[id][j]`` for sample ``j`` (``\\boxed{}`` added; ``None``: no answer).

    Records the prompt ids of every ``generate`` call; ``fail_after`` raises once that many calls succeeded.
    """

    def __init__(self, script: Mapping[str, Sequence[str | None]], *, fail_after: int | None = None) -> None:
        self.script, self.fail_after = script, fail_after
        self.calls: list[list[str]] = []

    def generate(self, batch: PromptBatch, sampling: SamplingConfig) -> list[RolloutGroup]:
        if self.fail_after is not None and len(self.calls) >= self.fail_after:
            raise RuntimeError("the engine died")
        self.calls.append([p.id for p in batch])
        return [
            RolloutGroup(p.id, tuple(self._rollout(p.id, j) for j in range(sampling.n)), p.answer, p.choices)
            for p in batch
        ]

    def _rollout(self, prompt_id: str, j: int) -> Rollout:
        answers = self.script.get(prompt_id, [None])
        answer = answers[j % len(answers)]
        text = "I cannot tell." if answer is None else f"Reasoning. The answer is \\boxed{{{answer}}}."
        return Rollout(text, FinishReason.STOP, tuple(range(len(text) // 4)))

    @property
    def generated_ids(self) -> list[str]:
        return [i for call in self.calls for i in call]


class Recording:
    """Wraps an engine: records the prompt ids of each ``generate`` call, raises once ``fail_after`` calls ran."""

    def __init__(self, engine: Any, *, fail_after: int | None = None) -> None:
        self.engine, self.fail_after = engine, fail_after
        self.calls: list[list[str]] = []

    def generate(self, batch: PromptBatch, sampling: SamplingConfig) -> list[RolloutGroup]:
        if self.fail_after is not None and len(self.calls) >= self.fail_after:
            raise RuntimeError("the engine died")
        self.calls.append([p.id for p in batch])
        return self.engine.generate(batch, sampling)

    @property
    def generated_ids(self) -> list[str]:
        return [i for call in self.calls for i in call]


@pytest.fixture
def recording() -> type[Recording]:
    """``recording(engine, fail_after=1)`` -> the engine, recorded (and interrupted)."""
    return Recording


@pytest.fixture
def scripted() -> type[ScriptedEngine]:
    """``scripted({id: [answer, ...]})`` -> a ``ScriptedEngine``."""
    return ScriptedEngine


@pytest.fixture
def eval_config(tiny_model_dir, tmp_path) -> Callable[..., EvalConfig]:
    """``eval_config(("name", path), ..., overrides=[...])`` -> an ``EvalConfig`` on the tiny model, writing under
    ``tmp_path/out``, with a private Arrow cache per benchmark and prompts encoded in this process."""

    def make(*benchmarks: tuple[str, Path | str], overrides: Sequence[str] = (), **fields) -> EvalConfig:
        configs = tuple(benchmark_config(name, str(path)) for name, path in benchmarks)
        defaults = {"model": str(tiny_model_dir), "output_dir": str(tmp_path / "out"), "n": 4, "batch_size": 2}
        config = EvalConfig(benchmarks=configs, data=EvalDataConfig(num_workers=0), **{**defaults, **fields})
        cache = [f"benchmarks.{name}.cache_dir={tmp_path / 'hf-cache'}" for name, _ in benchmarks]
        return apply_eval_overrides(config, [*cache, *overrides])

    return make


@pytest.fixture(scope="session")
def processors_of() -> Callable[[Path], Processors]:
    """``processors_of(model_dir)``, loaded once per folder."""
    return functools.cache(load_processors)


@pytest.fixture
def evaluate(processors_of) -> Callable[[EvalConfig, Any], list[BenchmarkResult]]:
    """``evaluate(config, engine)`` -> each benchmark's result, without writing the report files."""

    def run(config: EvalConfig, engine: Any) -> list[BenchmarkResult]:
        model = resolve_model(config.model, work_dir=Path(config.output_dir) / "models", log=lambda _: None)
        grader = config.grader.build()
        try:
            evaluator = Evaluator(
                config, engine=engine, processors=processors_of(model.path), model=model, grader=grader,
                log=lambda _: None,
            )  # fmt: skip
            return [evaluator.run(benchmark) for benchmark in config.benchmarks]
        finally:
            grader.close()

    return run
