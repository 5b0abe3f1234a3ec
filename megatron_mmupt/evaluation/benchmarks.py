"""The benchmarks ``megatron-mmupt eval`` knows: how to read each one and how its authors break results down.

A ``BenchmarkSpec`` names the data preset that maps the benchmark's rows (``data/presets/``), the split to take
from a downloaded folder, the metadata its official scorer groups results by, and any metrics of its own.
``BenchmarkConfig`` is one benchmark of a run: a spec's name and where its file is.

| name | preset | split | breakdowns (first: the chart's) | source of the breakdowns |
|---|---|---|---|---|
| ``mathvista`` | mathvista | testmini | task, skills, category, question_type, answer_type, context, grade, language, source | ``lupantech/MathVista`` ``evaluation/calculate_score.py`` (its target keys; skills is multi-valued) |
| ``we_math`` | we_math | testmini | steps (S1 / S2 / S3), knowledge_concept; plus IK / IG / CM / RM and the score | ``We-Math`` ``evaluation/accuracy.py``, ``four_dimensional_metrics.py`` (``we_math.py``) |
| ``mathverse`` | mathverse | testmini | problem_version, subject, subfield, question_type | ``ZrrSkywalker/MathVerse`` ``evaluation/score_answer_s2.py`` |
| ``mathvision`` | mathvision | test | subject, level | ``mathllm/MATH-V`` ``evaluation/evaluate.py`` |
| ``geometry3k`` | geometry3k | test | none | free-form, as MM-UPT trains it |
| ``demo`` | generic (+ columns ``question_type``, ``difficulty``) | test | question_type, difficulty | ``megatron-mmupt demo-data`` |
| ``generic`` | generic | test | one per ``metadata_columns`` entry | your own data |
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from megatron_mmupt.config.configurable import ConfigError, ConfigNode, check_choice
from megatron_mmupt.data.source import DatasetSource
from megatron_mmupt.evaluation.metrics import BreakdownFn, by_field
from megatron_mmupt.evaluation.results import ItemResult
from megatron_mmupt.evaluation.we_math import four_dimensional, step_level

ExtraMetrics = Callable[[Sequence[ItemResult]], dict[str, float]]


@dataclasses.dataclass(frozen=True, slots=True)
class Breakdown:
    """A regrouping of a benchmark's questions: its name in reports and the groups of a question."""

    name: str
    groups_of: BreakdownFn


def by(*keys: str) -> tuple[Breakdown, ...]:
    """One breakdown per metadata field, named after it."""
    return tuple(Breakdown(key, by_field(key)) for key in keys)


@dataclasses.dataclass(frozen=True, slots=True)
class BenchmarkSpec:
    """How to read and report one benchmark.

    Attributes:
        name: the registry name (``--benchmark NAME=PATH``).
        title: how reports name it.
        preset: the data preset that maps its rows (``data.source.preset``).
        split: the split taken from a downloaded folder or hub dataset (a file is read whole).
        layout: the files it comes as, for ``docs/evaluation.md`` and error messages.
        breakdowns: the regroupings its authors report; the first is drawn in the chart.
        metadata_keys: metadata kept in the per-question results (what the breakdowns and extra metrics read).
        metadata_columns: data columns copied into metadata (data in the generic schema carries no metadata).
        default_path: where the data is when ``--benchmark NAME`` names no path ("" : it must be given).
        extra_metrics: the benchmark's own metrics over all its graded questions, if any.
    """

    name: str
    title: str
    preset: str
    split: str
    layout: str
    breakdowns: tuple[Breakdown, ...] = ()
    metadata_keys: tuple[str, ...] = ()
    metadata_columns: tuple[str, ...] = ()
    default_path: str = ""
    extra_metrics: ExtraMetrics | None = None

    def source(self, path: str) -> DatasetSource.Config:
        return DatasetSource.Config(
            path=path, preset=self.preset, split=self.split, metadata_columns=self.metadata_columns
        )

    def breakdowns_for(self, source: DatasetSource.Config) -> tuple[Breakdown, ...]:
        """The spec's breakdowns, then one per metadata column the source adds that none covers yet."""
        named = {b.name for b in self.breakdowns}
        return self.breakdowns + by(*(c for c in source.metadata_columns if c not in named))

    def kept_metadata(self, source: DatasetSource.Config) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*self.metadata_keys, *source.metadata_columns)))


MATHVISTA_KEYS = (
    "task",
    "skills",
    "category",
    "question_type",
    "answer_type",
    "context",
    "grade",
    "language",
    "source",
)
WE_MATH_KEYS = ("we_math_id", "key", "num_steps", "step", "knowledge_concept")
MATHVERSE_KEYS = ("problem_version", "subject", "subfield", "question_type")
MATHVISION_KEYS = ("subject", "level")
DEMO_COLUMNS = ("question_type", "difficulty")

_SPECS = (
    BenchmarkSpec(
        name="mathvista",
        title="MathVista",
        preset="mathvista",
        split="testmini",
        layout="the hub parquet (AI4Math/MathVista, data/testmini-*.parquet) or its folder, or the GitHub "
        "data/testmini.json with images/ beside it",
        breakdowns=by(*MATHVISTA_KEYS),
        metadata_keys=MATHVISTA_KEYS,
    ),
    BenchmarkSpec(
        name="we_math",
        title="We-Math",
        preset="we_math",
        split="testmini",
        layout="the hub parquet (We-Math/We-Math) or its folder, or the GitHub data/testmini.json with its "
        "image folders beside it",
        breakdowns=(Breakdown("steps", step_level), *by("knowledge_concept")),
        metadata_keys=WE_MATH_KEYS,
        extra_metrics=four_dimensional,
    ),
    BenchmarkSpec(
        name="mathverse",
        title="MathVerse",
        preset="mathverse",
        split="testmini",
        layout="the hub parquet (AI4Math/MathVerse, testmini) or its folder, or the GitHub "
        "data/testmini.json with its image folders beside it",
        breakdowns=by(*MATHVERSE_KEYS),
        metadata_keys=MATHVERSE_KEYS,
    ),
    BenchmarkSpec(
        name="mathvision",
        title="MathVision",
        preset="mathvision",
        split="test",
        layout="the hub parquet (MathLLMs/MathVision) or its folder, or MATH-V's data/test.jsonl with "
        "benchmarks.mathvision.image_root=<the repository root>",
        breakdowns=by(*MATHVISION_KEYS),
        metadata_keys=MATHVISION_KEYS,
    ),
    BenchmarkSpec(
        name="geometry3k",
        title="Geometry3K",
        preset="geometry3k",
        split="test",
        layout="the hub parquet (hiyouga/geometry3k, data/test-*.parquet) or its folder",
    ),
    BenchmarkSpec(
        name="demo",
        title="demo task",
        preset="generic",
        split="test",
        layout="test.parquet of `megatron-mmupt demo-data`",
        metadata_columns=DEMO_COLUMNS,
        default_path="runs/demo-data/test.parquet",
    ),
    BenchmarkSpec(
        name="generic",
        title="generic",
        preset="generic",
        split="test",
        layout="a file in the generic schema: question, images, answer, choices?, id? (docs/data.md); "
        "benchmarks.generic.metadata_columns=<columns> adds breakdowns",
    ),
)
BENCHMARKS: dict[str, BenchmarkSpec] = {spec.name: spec for spec in _SPECS}


def get_benchmark(name: str) -> BenchmarkSpec:
    if name not in BENCHMARKS:
        raise ConfigError(f"unknown benchmark {name!r}; choose one of: {', '.join(BENCHMARKS)}")
    return BENCHMARKS[name]


@dataclasses.dataclass(kw_only=True, slots=True)
class BenchmarkConfig(ConfigNode):
    """One benchmark of an evaluation: which spec, and the data source (path, split, rows, columns)."""

    name: str = ""
    """A registered benchmark (``BENCHMARKS``)."""
    source: DatasetSource.Config = dataclasses.field(default_factory=DatasetSource.Config)
    """Where its rows are; the preset, split and metadata columns default to the spec's."""

    def __post_init__(self) -> None:
        check_choice("name", self.name, BENCHMARKS)

    @property
    def spec(self) -> BenchmarkSpec:
        return BENCHMARKS[self.name]

    @property
    def config_key(self) -> str:
        """Where overrides of this benchmark's source go: ``benchmarks.<name>.<key>=value``."""
        return f"benchmarks.{self.name}"


def benchmark_config(name: str, path: str | None = None) -> BenchmarkConfig:
    """``NAME`` with its file; ``path=None`` takes the spec's default path, where it has one."""
    spec = get_benchmark(name)
    path = path or spec.default_path
    if not path:
        raise ConfigError(f"benchmark {name!r} needs its data: --benchmark {name}=PATH, where PATH is {spec.layout}")
    return BenchmarkConfig(name=name, source=spec.source(path))


def parse_benchmark_arg(text: str) -> BenchmarkConfig:
    """``NAME=PATH`` or ``NAME`` (the spec's default path), as ``--benchmark`` takes it."""
    name, _, path = text.partition("=")
    return benchmark_config(name.strip(), path.strip() or None)
