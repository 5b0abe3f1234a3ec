"""SFT warm-up of the demo model on the demo task's worked solutions, and its held-out evaluation.

Shared by ``tools/make_demo_model.py`` (the shipped base model) and ``tools/probe_demo_task.py``:

    split = load_split(data_dir, "train", processors)             # prompts exactly as the data stage encodes them
    losses = sft(model, split, SFTConfig(steps=..., lr=...))       # loss on the response and <|im_end|> only
    figures = evaluate(engine, test, EvalConfig(temperature=1.0))  # greedy, pass@1, maj@k, by type/difficulty
    writing = writing_split(data_dir, "train", processors)        # write a question about an image (synthesis)

Prompts come from the data stage (``PromptEncoder``: chat template, image tokens expanded, 3-D rope ids), so a
model warmed up here sees in RL exactly the prompts it was trained on. Training sequences are the actor's
(``actor.sequences.build_sequences``) and log-probs the algorithm stage's (``token_logprobs_and_entropy``), so an
RL update on a transformers model can reuse ``sequence_logprobs``. Evaluation samples through a rollout engine
(``LocalEngine``: same sampler, same suppressed tokens as the rollouts) and scores with the reward stage.
"""

from __future__ import annotations

import collections
import dataclasses
import math
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from megatron_mmupt.actor.sequences import SequenceBatch, build_sequences
from megatron_mmupt.algorithm.logprobs import token_logprobs_and_entropy
from megatron_mmupt.config.configurable import ConfigNode, check_positive, check_range
from megatron_mmupt.data.encoder import PromptEncoder
from megatron_mmupt.data.images import ImageConfig
from megatron_mmupt.data.processing import Processors
from megatron_mmupt.data.prompt_batch import Prompt, PromptBatch
from megatron_mmupt.data.prompt_renderer import PromptConfig
from megatron_mmupt.data.source import DatasetSource

if TYPE_CHECKING:
    from megatron_mmupt.demo.task.problem import Problem

DEMO_PROMPT = PromptConfig(append_choices=False)
"""The demo task's prompt: the MM-UPT template; no appended choices, since the demo questions already list
their options (``(A) 5`` ...) while also carrying them in the ``choices`` column for the reward stage."""

PAD_TO_MULTIPLE = 32
"""Training sequences are padded to a multiple of this: oneDNN builds kernels per input shape (seconds each)."""


@dataclasses.dataclass(frozen=True)
class DemoSplit:
    """One split of the demo task, encoded.

    Attributes:
        prompts: one ``Prompt`` per row (as the data stage builds it; ``answer`` and ``choices`` attached).
        solutions: ``(len,)`` token ids of each row's ``solution`` followed by the EOS token.
        question_types, difficulties: per row, for breakdowns.
    """

    prompts: tuple[Prompt, ...]
    solutions: tuple[tuple[int, ...], ...]
    question_types: tuple[str, ...]
    difficulties: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.prompts)


def load_split(
    data_dir: str | Path,
    split: str,
    processors: Processors,
    *,
    limit: int | None = None,
    prompt: PromptConfig = DEMO_PROMPT,
) -> DemoSplit:
    """Encode ``DIR/{split}.parquet`` of ``megatron-mmupt demo-data`` (the first ``limit`` rows)."""
    import pyarrow.parquet as pq

    path = Path(data_dir) / f"{split}.parquet"
    source = DatasetSource.Config(path=str(path), preset="generic", max_rows=limit).build()
    table = pq.read_table(path, columns=["id", "solution", "question_type", "difficulty"])
    columns = table.slice(0, len(source)).to_pydict()
    encoder = PromptEncoder(processors, prompt, ImageConfig())
    prompts = tuple(encoder.encode(source.example(i)) for i in range(len(source)))
    if [p.id for p in prompts] != columns["id"]:
        raise ValueError(f"{path}: rows of the dataset source and the parquet file are not in the same order")
    tokenizer = processors.tokenizer
    solutions = tuple(
        tuple(tokenizer(text + tokenizer.eos_token, add_special_tokens=False).input_ids) for text in columns["solution"]
    )
    return DemoSplit(prompts, solutions, tuple(columns["question_type"]), tuple(columns["difficulty"]))


def writing_split(
    data_dir: str | Path, split: str, processors: Processors, *, limit: int | None = None, seed: int = 0
) -> DemoSplit:
    """Question writing on ``split``'s images: each row twice, as the ``direct`` and the ``in-context`` prompt
    of ``synthesis.templates``, the target a question about the same scene drawn from the task's grammar
    (``demo.task.alternatives``); in context, one other than the example when the scene has another.

    This is the instruction following an instruction-tuned model brings to synthesis: prompts are encoded
    exactly as ``megatron-mmupt synthesize`` encodes them.
    """
    import json

    from megatron_mmupt.demo.task.alternatives import scene_problems
    from megatron_mmupt.demo.task.generator import DemoTask
    from megatron_mmupt.synthesis.templates import WRITER_PROMPT, QuestionWriterPrompt, TemplatesConfig

    info = json.loads((Path(data_dir) / "dataset_info.json").read_text())
    task = DemoTask.Config(**info["config"]["task"]).build()
    path = Path(data_dir) / f"{split}.parquet"
    source = DatasetSource.Config(path=str(path), preset="generic", max_rows=limit).build()
    encoder = PromptEncoder(processors, WRITER_PROMPT, ImageConfig())
    writers = [QuestionWriterPrompt(TemplatesConfig(), method) for method in ("direct", "in-context")]
    rng = random.Random(f"megatron-mmupt-demo/writing/{seed}")
    eos = processors.tokenizer.eos_token
    prompts, targets, types, levels = [], [], [], []
    for index in range(len(source)):
        example, problem = source.example(index), task.problem(info["config"]["seed"], split, index)
        if example.question.removeprefix("<image>") != problem.question:
            raise ValueError(f"{path} row {index} is not the demo task's problem {index}: regenerate the data")
        options = scene_problems(problem)
        for writer in writers:
            others = [p for p in options if p.question != problem.question] if writer.method == "in-context" else []
            target = _draw(rng, others or options)
            prompts.append(encoder.encode(writer.example(example)))
            targets.append(tuple(processors.tokenizer(target.question + eos, add_special_tokens=False).input_ids))
            types.append(f"write/{target.question_type}")
            levels.append(target.difficulty)
    return DemoSplit(tuple(prompts), tuple(targets), tuple(types), tuple(levels))


def _draw(rng: random.Random, problems: Sequence[Problem]) -> Problem:
    """A question type uniformly, then one of its questions: a scene has as many multiple-choice variants as
    counting questions, and many more of those than of comparisons."""
    question_type = rng.choice(sorted({p.question_type for p in problems}))
    return rng.choice([p for p in problems if p.question_type == question_type])


def mixed(first: DemoSplit, second: DemoSplit) -> DemoSplit:
    """The rows of both splits (SFT shuffles them together)."""
    # Field by field: ``dataclasses.astuple`` would recurse into the prompts.
    return DemoSplit(*(getattr(first, f.name) + getattr(second, f.name) for f in dataclasses.fields(DemoSplit)))


def model_inputs(batch: SequenceBatch) -> dict[str, Any]:
    """The transformers model's keyword arguments for every row of ``batch`` (right-padded, causal)."""
    return {k: v for k, v in batch.model_inputs(list(range(batch.num_rows))).items() if v is not None}


def sequence_logprobs(
    model: torch.nn.Module, batch: SequenceBatch, *, temperature: float = 1.0, with_entropy: bool = False
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(N, L - 1)`` log-probs of each next token under ``log_softmax(logits / temperature)`` (and entropy).

    Differentiable; only the columns of ``batch.response_mask`` are meaningful.
    """
    logits = model(**model_inputs(batch)).logits[:, :-1]  # (N, L - 1, V)
    return token_logprobs_and_entropy(logits, batch.targets, temperature=temperature, with_entropy=with_entropy)


@dataclasses.dataclass(kw_only=True, slots=True)
class SFTConfig(ConfigNode):
    """The warm-up schedule: AdamW, linear warm-up over 5% of the steps, cosine decay to 10% of ``lr``."""

    steps: int = 1000
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    seed: int = 0
    """Order of the training rows."""

    def __post_init__(self) -> None:
        check_positive("steps", self.steps)
        check_positive("batch_size", self.batch_size)
        check_positive("lr", self.lr)
        check_range("weight_decay", self.weight_decay, 0.0)


def sft(
    model: torch.nn.Module,
    data: DemoSplit,
    config: SFTConfig,
    pad_token_id: int,
    on_step: Callable[[int, list[float]], None] | None = None,
    log: Callable[[str], None] = print,
) -> list[float]:
    """Train ``model`` on ``data``'s solutions (mean NLL of response tokens); ``on_step(step, losses)`` after
    every step. Returns the loss of every step."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, betas=(0.9, 0.98), weight_decay=config.weight_decay)
    warmup = max(1, config.steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda s: min(1.0, (s + 1) / warmup) * (0.1 + 0.45 * (1 + math.cos(math.pi * s / config.steps))),
    )
    generator = torch.Generator().manual_seed(config.seed)
    order: list[int] = []
    losses: list[float] = []
    for step in range(1, config.steps + 1):
        model.train()
        if len(order) < config.batch_size:
            order += torch.randperm(len(data), generator=generator).tolist()
        index, order = order[: config.batch_size], order[config.batch_size :]
        batch = build_sequences(
            [data.prompts[i] for i in index], [data.solutions[i] for i in index], pad_token_id,
            pad_to_multiple=PAD_TO_MULTIPLE,
        )  # fmt: skip
        logprobs, _ = sequence_logprobs(model, batch)
        mask = batch.response_mask
        loss = -(logprobs * mask).sum() / mask.sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        if step % max(1, config.steps // 10) == 0 or step == config.steps:
            log(f"step {step}/{config.steps}  loss {mean_tail(losses):.3f}")
        if on_step is not None:
            on_step(step, losses)
    model.eval()
    return losses


@dataclasses.dataclass(kw_only=True, slots=True)
class EvalConfig(ConfigNode):
    """Held-out evaluation: ``samples`` answers per problem at ``temperature`` (pass@1, maj@k) and a greedy one."""

    samples: int = 8
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 64
    """The longest demo solution has 40 tokens; longer samples are cut (and usually have no answer)."""
    seed: int = 1234
    """Sampling seed: the same seed draws the same random numbers, so two models compare on equal terms."""
    greedy: bool = True
    prompts_per_call: int = 64

    def __post_init__(self) -> None:
        check_positive("samples", self.samples)
        check_range("temperature", self.temperature, 0.0)
        check_positive("max_new_tokens", self.max_new_tokens)
        check_positive("prompts_per_call", self.prompts_per_call)


def evaluate(engine: Any, data: DemoSplit, config: EvalConfig | None = None, reward_stage: Any = None) -> dict:
    """Greedy accuracy, pass@1 (mean correctness of the samples), maj@k and vote diagnostics, overall and per
    question type and difficulty; ``engine`` is a rollout engine (``LocalEngine``) serving the model.

    Figures: ``greedy``, ``pass@1``, ``maj@k``, ``answer_rate`` (samples with a boxed answer), ``distinct``
    (distinct answers per problem), ``majority_share`` (the voted answer's share of the k samples).
    """
    from megatron_mmupt.reward.stage import RewardStage
    from megatron_mmupt.rollout.engine import SamplingConfig

    config = config or EvalConfig()
    sampled_config = SamplingConfig(
        n=config.samples, temperature=config.temperature, top_p=config.top_p, max_new_tokens=config.max_new_tokens,
        seed=config.seed,
    )  # fmt: skip
    greedy_config = SamplingConfig(n=1, temperature=0.0, top_p=1.0, max_new_tokens=config.max_new_tokens)
    sampled, greedy = [], []
    for step, start in enumerate(range(0, len(data), config.prompts_per_call)):
        batch = PromptBatch(data.prompts[start : start + config.prompts_per_call], step_index=step)
        sampled += engine.generate(batch, sampled_config)
        if config.greedy:
            greedy += engine.generate(batch, greedy_config)
    stage = reward_stage or RewardStage.Config().build()
    try:
        scored = stage.score_groups(sampled)
        scored_greedy = stage.score_groups(greedy) if greedy else None
    finally:
        if reward_stage is None:
            stage.close()
    by_key: dict[str, dict[str, list[float]]] = collections.defaultdict(lambda: collections.defaultdict(list))
    k = config.samples
    for i, group in enumerate(scored):
        vote = group.judgement.vote
        for key in ("all", data.question_types[i], f"difficulty {data.difficulties[i]}"):
            values = by_key[key]
            if scored_greedy is not None:
                values["greedy"].append(float(bool(scored_greedy.groups[i].outputs[0].correct)))
            values["pass@1"].append(sum(bool(o.correct) for o in group.outputs) / k)
            values[f"maj@{k}"].append(float(bool(group.judgement.majority_correct)))
            values["answer_rate"].append(vote.num_valid / k)
            values["distinct"].append(float(vote.num_distinct))
            values["majority_share"].append(vote.majority_share)
    figures: dict[str, Any] = {
        key: {name: sum(v) / len(v) for name, v in values.items()} | {"n": len(values["pass@1"])}
        for key, values in by_key.items()
    }
    figures["examples"] = [
        {"id": g.prompt_id, "answer": g.answer, "samples": list(g.responses[:3])} for g in sampled[:3]
    ]
    return figures


def figures_table(figures: dict, metrics: Sequence[str] | None = None) -> str:
    """A Markdown table of ``evaluate``'s figures, one row per group."""
    metrics = list(metrics or [m for m in figures["all"] if m != "n"])
    lines = [f"| group | n | {' | '.join(metrics)} |", f"|---|---|{'---|' * len(metrics)}"]
    for key, values in figures.items():
        if key != "examples":
            lines.append(f"| {key} | {values['n']} | {' | '.join(f'{values[m]:.3f}' for m in metrics)} |")
    return "\n".join(lines)


def mean_tail(values: Sequence[float], n: int = 50) -> float:
    tail = list(values[-n:])
    return sum(tail) / len(tail) if tail else float("nan")
