"""``megatron-mmupt eval``: a model on benchmarks, through a rollout engine, with a resumable per-question cache.

    config = apply_eval_overrides(EvalConfig(model="runs/x/checkpoints", benchmarks=(benchmark_config("demo"),)),
                                  ["n=8", "benchmarks.demo.max_rows=200"])
    report = run_eval(config)      # writes results.json / .md / .png under config.output_dir

Per benchmark: rows -> prompts (the data stage, batch by batch) -> the questions not in the cache are sampled
(``n`` each) and appended to it -> all questions graded by the reward stage against their labels -> pass@1,
maj@n, breakdowns and the benchmark's own metrics. Running the same command again after an interruption
samples only what is missing; a run with another model, sampling or prompt format samples everything anew.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import functools
import os
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from megatron_mmupt.config.configurable import ConfigError, ConfigNode, check_positive, check_range
from megatron_mmupt.config.overrides import apply_overrides, parse_override
from megatron_mmupt.config.serialization import write_config
from megatron_mmupt.data.images import ImageConfig
from megatron_mmupt.data.pipeline import PromptPipeline
from megatron_mmupt.data.processing import Processors, load_processors
from megatron_mmupt.data.prompt_batch import Prompt, PromptBatch
from megatron_mmupt.data.prompt_renderer import PromptConfig
from megatron_mmupt.data.sampler import SamplerConfig
from megatron_mmupt.data.source import DatasetSource
from megatron_mmupt.data.types import BadRow, BadRowReason
from megatron_mmupt.evaluation.benchmarks import BenchmarkConfig
from megatron_mmupt.evaluation.cache import ResponseCache
from megatron_mmupt.evaluation.generation import Sampler, eval_sampling, generate_responses, generation_key
from megatron_mmupt.evaluation.grading import GraderConfig, grade
from megatron_mmupt.evaluation.metrics import breakdown, summarize
from megatron_mmupt.evaluation.model_source import ACCEPTED, ResolvedModel, resolve_model
from megatron_mmupt.evaluation.report import BenchmarkResult, EvalReport, write_report
from megatron_mmupt.evaluation.results import Question, Responses
from megatron_mmupt.parallel.cluster import ClusterConfig
from megatron_mmupt.reward.stage import RewardStage
from megatron_mmupt.rollout.config import RolloutConfig
from megatron_mmupt.rollout.engine import SamplingConfig
from megatron_mmupt.rollout.offline import open_engine
from megatron_mmupt.rollout.types import RolloutGroup
from megatron_mmupt.utils.errors import InputError

Log = Callable[[str], None]


@dataclasses.dataclass(kw_only=True, slots=True)
class EvalDataConfig(ConfigNode):
    """How benchmark rows become prompts (the data stage's settings; ``docs/data.md``)."""

    processor: str = ""
    """Folder with the tokenizer (chat template) and image processor; empty: the evaluated model's folder."""
    prompt: PromptConfig = dataclasses.field(default_factory=PromptConfig)
    """The MM-UPT prompt by default; choices are appended to multiple-choice questions that do not list them."""
    images: ImageConfig = dataclasses.field(default_factory=ImageConfig)
    num_workers: int = 2
    """Processes decoding images and encoding prompts while the engine samples; 0 encodes in this process."""
    max_bad_fraction: float = 0.0
    """Stop when more than this fraction of a benchmark's rows are unusable (checked after 100 rows); skipped
    rows are counted in the results either way, since they change what a score is out of."""

    def __post_init__(self) -> None:
        check_range("num_workers", self.num_workers, 0, 64)
        check_range("max_bad_fraction", self.max_bad_fraction, 0.0, 1.0)


@dataclasses.dataclass(kw_only=True, slots=True)
class EvalConfig(ConfigNode):
    """One evaluation: the model, the benchmarks, how answers are sampled and graded, and the engine."""

    model: str = ""
    """An HF model folder, or a training checkpoint (run folder, its ``checkpoints/``, or a ``step_N``)."""
    output_dir: str = "runs/eval"
    """Results, the per-question cache (resume), converted checkpoints, the resolved config."""
    benchmarks: tuple[BenchmarkConfig, ...] = ()
    """What to evaluate on (``--benchmark NAME=PATH``); their sources take ``benchmarks.<name>.<key>=...``."""
    n: int = 8
    """Samples per question: pass@1 averages them, maj@n votes over them."""
    temperature: float = 1.0
    """Sampling temperature; 0 is greedy (then all n samples agree)."""
    top_p: float = 1.0
    max_new_tokens: int = 2048
    """Response limit in tokens (the MM-UPT reference's); a truncated response usually has no answer."""
    batch_size: int = 64
    """Questions per engine call, and per cache append: an interruption loses at most one batch."""
    seed: int = 1234
    """Base of every sample's seed (with the question id and sample index), so runs are comparable."""
    data: EvalDataConfig = dataclasses.field(default_factory=EvalDataConfig)
    grader: GraderConfig = dataclasses.field(default_factory=GraderConfig)
    """How answers are extracted and compared: the reward stage's rules."""
    rollout: RolloutConfig = dataclasses.field(default_factory=RolloutConfig)
    """The engine: ``engine=local`` (transformers) or ``sglang``, how many, their settings. Of ``rollout.sampling``
    only ``stop_token_ids`` is read; the fields above set the rest."""
    server_url: str = ""
    """Sample through a running SGLang server (or ``megatron-mmupt serve``) at this URL instead of starting one."""
    cluster: ClusterConfig = dataclasses.field(default_factory=ClusterConfig)
    """Ray, used only to start several engines or SGLang servers."""

    def __post_init__(self) -> None:
        check_positive("n", self.n)
        check_range("temperature", self.temperature, 0.0)
        if not 0.0 < self.top_p <= 1.0:
            raise ConfigError(f"top_p={self.top_p!r} must lie in (0, 1]")
        check_positive("max_new_tokens", self.max_new_tokens)
        check_positive("batch_size", self.batch_size)
        if not self.output_dir:
            raise ConfigError("output_dir must not be empty")
        self.benchmarks = tuple(self.benchmarks)
        names = [b.name for b in self.benchmarks]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ConfigError(f"benchmark {', '.join(repeated)} is given twice; name each benchmark once")

    def sampling(self) -> SamplingConfig:
        return eval_sampling(
            self.rollout.sampling, n=self.n, temperature=self.temperature, top_p=self.top_p,
            max_new_tokens=self.max_new_tokens, seed=self.seed,
        )  # fmt: skip


def apply_eval_overrides(config: EvalConfig, overrides: Sequence[str]) -> EvalConfig:
    """Dotted overrides; ``benchmarks.<name>.<key>=value`` sets a key of that benchmark's data source."""
    for text in overrides:
        key, value = parse_override(text)
        if key.startswith("benchmarks."):
            config = _override_benchmark(config, key, value)
        else:
            config = apply_overrides(config, [f"{key}={value}"])
    return config


def _override_benchmark(config: EvalConfig, key: str, value: str) -> EvalConfig:
    _, name, rest = [*key.split(".", 2), "", ""][:3]
    names = [b.name for b in config.benchmarks]
    if name not in names or not rest:
        given = ", ".join(names) or "none"
        raise ConfigError(
            f"{key}: write benchmarks.<name>.<source key>=value for a benchmark given with --benchmark "
            f"(given: {given}); e.g. benchmarks.{names[0] if names else 'demo'}.max_rows=100"
        )
    benchmarks = list(config.benchmarks)
    index = names.index(name)
    try:
        source = apply_overrides(benchmarks[index].source, [f"{rest}={value}"])
    except ConfigError as e:
        raise ConfigError(f"benchmarks.{name}: {e}") from None
    benchmarks[index] = dataclasses.replace(benchmarks[index], source=source)
    return dataclasses.replace(config, benchmarks=tuple(benchmarks))


def run_eval(config: EvalConfig, *, engine: Sampler | None = None, log: Log = print) -> EvalReport:
    """Evaluate ``config.model`` on ``config.benchmarks``; ``engine``: sample through it instead of opening one."""
    check_eval_inputs(config)
    out = Path(config.output_dir)
    start = time.perf_counter()
    with _exclusive(out), contextlib.ExitStack() as stack:
        model = resolve_model(config.model, work_dir=out / "models", log=log)
        write_config(config, out)
        processors = load_processors(config.data.processor or model.path)
        grader = config.grader.build()
        stack.callback(grader.close)
        if engine is None:
            opening = functools.partial(
                open_engine, config.rollout, model_path=model.path, server_url=config.server_url,
                cluster=config.cluster, seed=config.seed,
            )  # fmt: skip
            engine = _OnDemand(opening, stack)
        evaluator = Evaluator(config, engine=engine, processors=processors, model=model, grader=grader, log=log)
        report = EvalReport(
            model=model.to_dict(),
            sampling=config.sampling().to_dict(),
            grader=config.grader.to_dict(),
            benchmarks=tuple(evaluator.run(benchmark) for benchmark in config.benchmarks),
            seconds=time.perf_counter() - start,
        )
        paths = write_report(report, out)
    log(f"wrote {', '.join(map(str, paths))}")
    return report


class _OnDemand:
    """Opens the engine when the first uncached question needs it: a rerun that finds everything in the cache
    loads no model and starts no server (minutes for a 7B model behind SGLang)."""

    def __init__(self, opening: Callable[[], contextlib.AbstractContextManager[Sampler]], stack: contextlib.ExitStack):
        self.opening, self.stack = opening, stack
        self.engine: Sampler | None = None

    def generate(self, batch: PromptBatch, sampling: SamplingConfig) -> list[RolloutGroup]:
        if self.engine is None:
            self.engine = self.stack.enter_context(self.opening())
        return self.engine.generate(batch, sampling)


def check_eval_inputs(config: EvalConfig) -> None:
    """What can be checked in milliseconds, before a model is loaded or converted."""
    if not config.model:
        raise ConfigError("no model: pass --model with a Hugging Face folder or a training checkpoint")
    if not Path(config.model).exists():
        raise InputError(f"--model {config.model}: no such folder; give {ACCEPTED}")
    if not config.benchmarks:
        raise ConfigError(
            "no benchmark: pass --benchmark NAME=PATH (e.g. --benchmark demo=runs/demo-data/test.parquet)"
        )
    for benchmark in config.benchmarks:
        path = benchmark.source.path
        if not Path(path).exists() and not any(c in path for c in "*?["):
            spec = benchmark.spec
            raise InputError(
                f"--benchmark {benchmark.name}={path}: no such file or folder; {spec.title} is read from {spec.layout}"
            )


class Evaluator:
    """Evaluates benchmarks with one engine, model, sampling and grader: sample (cached), grade, summarize."""

    def __init__(
        self,
        config: EvalConfig,
        *,
        engine: Sampler,
        processors: Processors,
        model: ResolvedModel,
        grader: RewardStage,
        log: Log = print,
    ) -> None:
        self.config, self.engine, self.processors, self.model, self.grader = config, engine, processors, model, grader
        self.sampling = config.sampling()
        self.out = Path(config.output_dir)
        self.log = log

    def run(self, benchmark: BenchmarkConfig) -> BenchmarkResult:
        start = time.perf_counter()
        source = benchmark.source.build(config_key=benchmark.config_key)
        _check_looks_like(benchmark, source)
        pipeline = PromptPipeline(self._pipeline_config(benchmark), processors=self.processors, source=source)
        cache = ResponseCache(self.out / "cache" / f"{benchmark.name}.jsonl")
        if cache.torn_bytes:
            self.log(f"{benchmark.name}: cut a half-written record ({cache.torn_bytes} bytes) from {cache.path}")
        sampled = _Sampling(self, benchmark, cache, total=len(source))
        try:
            for batch in pipeline:
                sampled.add(batch.prompts)
        except InputError as e:  # the data stage's own errors (too many bad rows) do not name the benchmark
            raise InputError(f"benchmark {benchmark.name}: {e}") from None
        sampled.finish()
        items = grade(self.grader, sampled.questions, [sampled.responses[q.id] for q in sampled.questions])
        if not items:
            raise InputError(f"benchmark {benchmark.name}: no usable question in {benchmark.source.path}")
        spec = benchmark.spec
        return BenchmarkResult(
            name=benchmark.name,
            title=spec.title,
            source=benchmark.source.to_dict(),
            items=tuple(items),
            summary=summarize(items),
            breakdowns={b.name: breakdown(items, b.groups_of) for b in spec.breakdowns_for(benchmark.source)},
            extra=spec.extra_metrics(items) if spec.extra_metrics else {},
            bad_rows=dict(pipeline.bad_rows.counts),
            generated=sampled.generated,
            reused=sampled.reused,
            unused_cache_records=len(cache) - len(sampled.responses),
            seconds=time.perf_counter() - start,
        )

    def _pipeline_config(self, benchmark: BenchmarkConfig) -> PromptPipeline.Config:
        data = self.config.data
        return PromptPipeline.Config(
            source=benchmark.source,
            images=data.images,
            prompt=data.prompt,
            sampler=SamplerConfig(batch_size=self.config.batch_size, shuffle=False, drop_last=False),
            num_epochs=1,
            num_workers=data.num_workers,
            max_bad_fraction=data.max_bad_fraction,
            bad_row_report=str(self.out / "bad_rows" / f"{benchmark.name}.jsonl"),
        )


class _Sampling:
    """The questions of one benchmark as they stream in: cached ones taken, the rest sampled a batch at a time."""

    def __init__(self, evaluator: Evaluator, benchmark: BenchmarkConfig, cache: ResponseCache, *, total: int) -> None:
        self.evaluator, self.benchmark, self.cache, self.total = evaluator, benchmark, cache, total
        self.kept_metadata = benchmark.spec.kept_metadata(benchmark.source)
        self.questions: list[Question] = []
        self.ids: set[str] = set()
        self.responses: dict[str, Responses] = {}
        self.pending: list[tuple[Prompt, str]] = []
        self.generated = self.reused = 0
        self.start = time.perf_counter()

    def add(self, prompts: Sequence[Prompt]) -> None:
        for prompt in prompts:
            self._check(prompt)
            key = generation_key(self.evaluator.model.fingerprint, self.evaluator.sampling, prompt)
            self.questions.append(Question.from_prompt(prompt, self.kept_metadata))
            self.ids.add(prompt.id)
            cached = self.cache.get(key)
            if cached is not None:
                self.responses[prompt.id] = cached
                self.reused += 1
            else:
                self.pending.append((prompt, key))
        while len(self.pending) >= self.evaluator.config.batch_size:
            self._sample(self.evaluator.config.batch_size)

    def finish(self) -> None:
        if self.pending:
            self._sample(len(self.pending))
        self.evaluator.log(self._progress())

    def _sample(self, count: int) -> None:
        batch, self.pending = self.pending[:count], self.pending[count:]
        prompts, keys = [p for p, _ in batch], [k for _, k in batch]
        responses = generate_responses(self.evaluator.engine, prompts, self.evaluator.sampling, keys)
        self.cache.append(responses)  # durable before the next batch starts
        self.responses.update((r.id, r) for r in responses)
        self.generated += len(responses)
        if self.pending or len(self.questions) < self.total:
            self.evaluator.log(self._progress())

    def _check(self, prompt: Prompt) -> None:
        # Raised inside the pipeline loop of ``Evaluator.run``, which prefixes the benchmark's name.
        if prompt.id in self.ids:
            raise InputError(f"question id {prompt.id!r} appears twice; ids must be unique")
        if prompt.answer is None:
            raise InputError(
                f"question {prompt.id!r} has no answer; evaluation needs labels "
                f"(is {self.benchmark.source.path} a split without answers?)"
            )

    def _progress(self) -> str:
        done = len(self.responses)
        elapsed = time.perf_counter() - self.start
        return (
            f"{self.benchmark.name}: {done}/{self.total} questions sampled or cached ({self.reused} from the cache), "
            f"{elapsed:.0f} s"
        )


def _check_looks_like(benchmark: BenchmarkConfig, source: DatasetSource) -> None:
    """Fail before any sampling when the file is not this benchmark's, or its images cannot be found.

    Judged on the first row: a missing column or an unresolvable image path there is a wrong file or a wrong
    ``image_root``, not one bad row among good ones (those are skipped and counted later).
    """
    spec, where = benchmark.spec, f"benchmark {benchmark.name}"
    try:
        num_rows = len(source)
    except InputError as e:
        raise InputError(f"{where}: {e}") from None
    if num_rows == 0:
        raise InputError(f"{where}: {benchmark.source.path} has no rows")
    try:
        source.example(0)
    except BadRow as bad:
        if bad.reason is BadRowReason.MISSING_COLUMN:
            raise InputError(
                f"{where}: {benchmark.source.path} is not in the {spec.title} layout: {bad.detail}. "
                f"{spec.title} is read from {spec.layout}"
            ) from None
        if bad.reason is BadRowReason.BAD_IMAGE:
            raise InputError(f"{where}: the images of {benchmark.source.path} cannot be read: {bad.detail}") from None


@contextlib.contextmanager
def _exclusive(out: Path) -> Iterator[None]:
    """One evaluation per output folder at a time: two writers would interleave the cache files."""
    out.mkdir(parents=True, exist_ok=True)
    with open(out / ".lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError(f"{out} is in use by another evaluation; wait for it, or pass another --out") from None
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        yield
