"""Self-synthesized training questions: the model writes questions about a seed dataset's images.

    config = SynthesisConfig(method="in-context", model_path=..., seed_data=..., output_dir=...)
    summary = synthesize(config)      # opens the engine, writes output_dir/train.parquet + summary
    summary = Synthesizer(config, engine).run()     # or through an engine of your own

1. For each seed row, ``questions_per_image`` responses to the writer prompt (``templates``);
2. the text filters (``filters``: truncated, unparseable, length, copy, duplicate);
3. for what is left, ``filters.k`` answers under the training prompt, voted by the reward stage: a
   question is kept when its majority share is within ``[min_share, max_share]``;
4. the kept questions, with the seed's images and no label, as a dataset ``train`` reads directly.

Only the seed's images and (in context) its question are used; its answer is never read.
"""

from __future__ import annotations

import collections
import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from megatron_mmupt.config.configurable import ConfigError, ConfigNode, check_choice, check_positive, check_range
from megatron_mmupt.data.encoder import PromptEncoder
from megatron_mmupt.data.images import ImageConfig
from megatron_mmupt.data.processing import load_processors
from megatron_mmupt.data.prompt_batch import PromptBatch
from megatron_mmupt.data.prompt_renderer import IMAGE_PLACEHOLDER, PromptConfig
from megatron_mmupt.data.source import DatasetSource
from megatron_mmupt.data.types import BadRow, Example
from megatron_mmupt.parallel.cluster import ClusterConfig
from megatron_mmupt.reward.stage import RewardStage
from megatron_mmupt.rollout.config import RolloutConfig
from megatron_mmupt.rollout.engine import RolloutEngine, SamplingConfig
from megatron_mmupt.rollout.offline import open_engine
from megatron_mmupt.synthesis import filters
from megatron_mmupt.synthesis.filters import Deduplicator, FilterConfig, Rejection
from megatron_mmupt.synthesis.output import image_cell, write_output
from megatron_mmupt.synthesis.parse import Unparseable, WrittenQuestion, parse_question
from megatron_mmupt.synthesis.templates import METHODS, WRITER_PROMPT, QuestionWriterPrompt, TemplatesConfig
from megatron_mmupt.utils.errors import InputError


@dataclasses.dataclass(kw_only=True, slots=True)
class SynthesisConfig(ConfigNode):
    method: str = "in-context"
    """``in-context`` (image + its question as an example -> a new question) or ``direct`` (image only)."""
    model_path: str = ""
    """HF model folder of the writer (and answerer): the model that will be trained on the questions."""
    seed_data: DatasetSource.Config = dataclasses.field(default_factory=DatasetSource.Config)
    """The seed dataset: its images (and, in context, questions); ``max_rows`` takes the first rows."""
    output_dir: str = ""
    rollout: RolloutConfig = dataclasses.field(default_factory=RolloutConfig)
    """The engine (``engine=local`` or ``sglang``, how many, their settings); the fields below set sampling."""
    server_url: str = ""
    """Sample through a running SGLang server (or ``megatron-mmupt serve``) at this URL instead of starting one."""
    cluster: ClusterConfig = dataclasses.field(default_factory=ClusterConfig)
    """Ray, used only to start several engines or SGLang servers."""
    templates: TemplatesConfig = dataclasses.field(default_factory=TemplatesConfig)
    questions_per_image: int = 2
    """Questions written per seed image (each filtered on its own; repeats count as duplicates)."""
    temperature: float = 1.0
    """Sampling temperature of the writer."""
    top_p: float = 1.0
    max_new_tokens: int = 128
    """Longest question; a longer one is cut and rejected as truncated."""
    filters: FilterConfig = dataclasses.field(default_factory=FilterConfig)
    answer_prompt: PromptConfig = dataclasses.field(default_factory=PromptConfig)
    """How the consensus answers are asked: use the training recipe's ``data.prompt``."""
    images: ImageConfig = dataclasses.field(default_factory=ImageConfig)
    """Image resizing (use the training recipe's ``data.images``)."""
    batch_size: int = 64
    """Prompts per engine call."""
    seed: int = 0
    """Sampling seed: the same seed, model and data give the same questions."""

    def __post_init__(self) -> None:
        check_choice("method", self.method, METHODS)
        check_positive("questions_per_image", self.questions_per_image)
        check_range("temperature", self.temperature, 0.0)
        check_range("top_p", self.top_p, 0.0, 1.0)
        check_positive("max_new_tokens", self.max_new_tokens)
        check_positive("batch_size", self.batch_size)

    def check_paths(self) -> None:
        """The inputs exist and the output is named: checked before a model is loaded."""
        if not self.model_path or not Path(self.model_path).is_dir():
            raise ConfigError(f"model_path={self.model_path!r} is not a model folder; pass --model DIR (HF format)")
        if not self.seed_data.path:
            raise ConfigError("seed_data.path is empty; pass --data FILE (the seed dataset)")
        if not self.output_dir:
            raise ConfigError("output_dir is empty; pass --out DIR")


@dataclasses.dataclass(frozen=True, slots=True)
class Candidate:
    """A written question that passed the text filters, waiting for the consensus check."""

    seed: Example
    index: int
    question: WrittenQuestion

    @property
    def id(self) -> str:
        return f"{self.seed.id}-{self.index}"

    def answer_example(self) -> Example:
        return Example(
            id=self.id,
            question=IMAGE_PLACEHOLDER * len(self.seed.images) + self.question.stem,
            images=self.seed.images,
            choices=self.question.choices,
        )


class Synthesizer:
    def __init__(self, config: SynthesisConfig, engine: RolloutEngine) -> None:
        self.config, self.engine = config, engine
        processors = load_processors(config.model_path)
        self.writer = QuestionWriterPrompt(config.templates, config.method)
        self.writer_encoder = PromptEncoder(processors, WRITER_PROMPT, config.images)
        self.answer_encoder = PromptEncoder(processors, config.answer_prompt, config.images)
        self.counts: collections.Counter[str] = collections.Counter()
        self.unparseable: collections.Counter[str] = collections.Counter()
        self._calls = 0

    def run(self, source: DatasetSource | None = None) -> dict[str, Any]:
        """Synthesize from ``source`` (default: ``config.seed_data``) and write the output."""
        start = time.perf_counter()
        seeds = list(self._seeds(source or seed_source(self.config)))
        candidates = self._written(seeds)
        rows = self._answerable(candidates)
        summary = self._summary(len(seeds), rows, time.perf_counter() - start)
        write_output(self.config.output_dir, rows, summary, summary_table(summary))
        return summary

    def _seeds(self, source: DatasetSource) -> Iterator[Example]:
        for index in range(len(source)):
            try:
                example = source.example(index)
            except BadRow as e:
                self.counts[f"bad_seed_row/{e.reason.value}"] += 1
                continue
            if example.images:
                yield example
            else:
                self.counts["bad_seed_row/no_image"] += 1

    def _generate(self, examples: list[Example], encoder: PromptEncoder, sampling: SamplingConfig) -> list:
        """Groups of ``examples`` in order (rows that cannot be encoded are counted and come back as None)."""
        groups: list = []
        for start in range(0, len(examples), self.config.batch_size):
            prompts, slots = [], []
            for example in examples[start : start + self.config.batch_size]:
                try:
                    prompts.append(encoder.encode(example))
                    slots.append(True)
                except BadRow as e:
                    self.counts[f"bad_prompt/{e.reason.value}"] += 1
                    slots.append(False)
            results = iter(self.engine.generate(PromptBatch(tuple(prompts), step_index=self._calls), sampling))
            self._calls += 1  # sample seeds hash the call index: every call draws fresh numbers
            groups += [next(results) if ok else None for ok in slots]
        return groups

    def _written(self, seeds: list[Example]) -> list[Candidate]:
        config = self.config
        sampling = SamplingConfig(
            n=config.questions_per_image, temperature=config.temperature, top_p=config.top_p,
            max_new_tokens=config.max_new_tokens, seed=config.seed,
        )  # fmt: skip
        groups = self._generate([self.writer.example(s) for s in seeds], self.writer_encoder, sampling)
        dedup, candidates = Deduplicator(), []
        for seed, group in zip(seeds, groups, strict=True):
            for index, rollout in enumerate(group.rollouts if group is not None else ()):
                self.counts["written"] += 1
                outcome = self._text_filters(seed, rollout, dedup)
                if isinstance(outcome, Rejection):
                    self.counts[f"rejected/{outcome.value}"] += 1
                else:
                    candidates.append(Candidate(seed, index, outcome))
        return candidates

    def _text_filters(self, seed: Example, rollout: Any, dedup: Deduplicator) -> WrittenQuestion | Rejection:
        if rollout.finish_reason.is_truncated:
            return Rejection.TRUNCATED
        parsed = parse_question(rollout.response_text)
        if isinstance(parsed, Unparseable):
            self.unparseable[parsed.reason] += 1
            return Rejection.UNPARSEABLE
        if not filters.length_ok(parsed, self.config.filters):
            return Rejection.LENGTH
        if filters.is_copy(parsed, seed.question):
            return Rejection.COPY
        if dedup.seen(seed.id, parsed):
            return Rejection.DUPLICATE
        return parsed

    def _answerable(self, candidates: list[Candidate]) -> list[dict[str, Any]]:
        cfg = self.config.filters
        sampling = SamplingConfig(
            n=cfg.k, temperature=cfg.temperature, top_p=1.0, max_new_tokens=cfg.max_new_tokens,
            seed=self.config.seed + 1,
        )  # fmt: skip
        groups = self._generate([c.answer_example() for c in candidates], self.answer_encoder, sampling)
        stage = RewardStage.Config(mode="majority").build()
        try:
            scored = stage.score_groups([g for g in groups if g is not None])
        finally:
            stage.close()
        judged = iter(scored.groups)
        rows = []
        for candidate, group in zip(candidates, groups, strict=True):
            if group is None:
                continue
            judgement = next(judged).judgement
            share = judgement.vote.majority_share
            if not filters.share_ok(share, cfg) or judgement.vote.majority is None:
                self.counts[f"rejected/{Rejection.NOT_ANSWERABLE.value}"] += 1
                continue
            rows.append(self._row(candidate, judgement.answer_of_class(judgement.vote.majority), share))
        return rows

    def _row(self, candidate: Candidate, consensus: str | None, share: float) -> dict[str, Any]:
        return {
            "id": candidate.id,
            "question": candidate.answer_example().question,
            "images": [image_cell(ref) for ref in candidate.seed.images],
            "answer": None,
            "choices": list(candidate.question.choices),
            "seed_id": candidate.seed.id,
            "method": self.config.method,
            "consensus_answer": consensus,
            "consensus_share": share,
        }

    def _summary(self, num_seeds: int, rows: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
        written = self.counts["written"]
        return {
            "method": self.config.method,
            "seed_rows": num_seeds,
            "written": written,
            "rejected": {r.value: self.counts[f"rejected/{r.value}"] for r in Rejection},
            "kept": len(rows),
            "kept_share": len(rows) / written if written else 0.0,
            "multiple_choice": sum(bool(r["choices"]) for r in rows),
            "mean_consensus_share": sum(r["consensus_share"] for r in rows) / len(rows) if rows else 0.0,
            "unparseable_reasons": dict(self.unparseable.most_common(10)),
            "skipped": {k: v for k, v in self.counts.items() if k.startswith(("bad_seed_row/", "bad_prompt/"))},
            "seconds": round(seconds, 1),
            "config": self.config.to_dict(),
        }


def summary_table(summary: dict[str, Any]) -> str:
    """Where the written questions went, as a Markdown table."""
    written = max(1, summary["written"])
    lines = [
        f"# Synthesis ({summary['method']}): {summary['kept']} of {summary['written']} questions kept",
        "",
        "| stage | questions | share of written |",
        "|---|---|---|",
        f"| written | {summary['written']} | 100.0% |",
    ]
    lines += [f"| rejected: {k} | {v} | {100 * v / written:.1f}% |" for k, v in summary["rejected"].items()]
    lines.append(f"| kept | {summary['kept']} | {100 * summary['kept'] / written:.1f}% |")
    return "\n".join(lines)


def seed_source(config: SynthesisConfig) -> DatasetSource:
    """The seed dataset, loaded (errors name ``seed_data.*``); an empty one is refused."""
    source = config.seed_data.build(config_key="seed_data")
    if len(source) == 0:
        raise InputError(f"seed dataset {config.seed_data.path} has no rows")
    return source


def synthesize(config: SynthesisConfig) -> dict[str, Any]:
    """Check the inputs (the seed data is read before a model is loaded), open the engine, synthesize, write."""
    config.check_paths()
    source = seed_source(config)
    opening = open_engine(
        config.rollout, model_path=Path(config.model_path), server_url=config.server_url, cluster=config.cluster,
        seed=config.seed,
    )  # fmt: skip
    with opening as engine:
        return Synthesizer(config, engine).run(source)
