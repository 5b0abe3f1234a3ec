"""Typed objects that leave the rollout stage: one ``Rollout`` per sample, one ``RolloutGroup`` per prompt.

The reward stage reads only ``response_text`` and the group's optional ``answer``/``choices``; the
training stage reads the token-level fields. Groups carry their prompt id explicitly, so nothing
downstream depends on the position of a sample in a batch.
"""

from __future__ import annotations

import dataclasses
import enum


class FinishReason(enum.StrEnum):
    """Why generation of one sample stopped (SGLang's ``meta_info.finish_reason.type`` values)."""

    STOP = "stop"
    """An EOS or stop token/string ended the sample."""
    LENGTH = "length"
    """``max_new_tokens`` was reached: the sample is truncated."""
    ABORT = "abort"
    """The engine aborted the request (pause, weight update, error)."""

    @property
    def is_truncated(self) -> bool:
        return self is FinishReason.LENGTH


@dataclasses.dataclass(frozen=True, slots=True)
class Rollout:
    """One sampled response to a prompt.

    Attributes:
        response_text: decoded response (special tokens removed).
        finish_reason: why sampling stopped.
        response_token_ids: ``(T,)`` sampled token ids; empty when only text is known (e.g. scoring a file).
        rollout_logprobs: ``(T,)`` log-probs of the sampled tokens under the rollout engine, or empty.
    """

    response_text: str
    finish_reason: FinishReason = FinishReason.STOP
    response_token_ids: tuple[int, ...] = ()
    rollout_logprobs: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.response_text, str):
            raise TypeError(f"Rollout.response_text must be str, got {type(self.response_text).__name__}")
        if self.rollout_logprobs and len(self.rollout_logprobs) != len(self.response_token_ids):
            raise ValueError(
                f"Rollout has {len(self.response_token_ids)} token ids but {len(self.rollout_logprobs)} log-probs"
            )


@dataclasses.dataclass(frozen=True, slots=True)
class RolloutGroup:
    """The G samples drawn for one prompt.

    Attributes:
        prompt_id: stable identifier of the prompt (dataset row id), unique within a batch.
        rollouts: the G samples, in sampling order (the vote's tie-break refers to this order).
        answer: ground-truth answer when the dataset happens to carry one. Used only for diagnostics,
            and as the target of the ``supervised`` reward mode.
        choices: option texts of a multiple-choice question, in letter order (A, B, ...), or empty.
    """

    prompt_id: str
    rollouts: tuple[Rollout, ...]
    answer: str | None = None
    choices: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.rollouts:
            raise ValueError(f"RolloutGroup {self.prompt_id!r} has no rollouts")

    @property
    def num_samples(self) -> int:
        return len(self.rollouts)

    @property
    def responses(self) -> list[str]:
        return [r.response_text for r in self.rollouts]
