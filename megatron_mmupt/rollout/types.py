"""Typed objects that leave the rollout stage: one ``Rollout`` per sample, one ``RolloutGroup`` per prompt.

The reward stage reads only ``response_text``, ``finish_reason`` and the group's ``prompt_id``/``answer``/
``choices``/``rollouts``; the training stage reads the token-level fields. Groups carry their prompt id
explicitly, so nothing downstream depends on the position of a sample in a batch.

What ``rollout_logprobs`` means (both engines, see ``docs/rollout.md``): ``log softmax(z_t / T)[y_t]``, the
log-prob of the sampled token under the temperature-scaled distribution of the full vocabulary, before
top-k/top-p truncation and before the suppression of special tokens. It is what SGLang's ``return_logprob``
reports and what a GRPO trainer recomputes from its own logits (``algorithm.logprobs``).
"""

from __future__ import annotations

import dataclasses
import enum


class FinishReason(enum.StrEnum):
    """Why generation of one sample stopped (SGLang's ``meta_info.finish_reason.type`` values)."""

    STOP = "stop"
    """An EOS or stop token/string ended the sample."""
    LENGTH = "length"
    """``max_new_tokens`` (or the engine's context length) was reached: the sample is truncated."""
    ABORT = "abort"
    """The engine aborted the request (pause, weight update, error)."""

    @property
    def is_truncated(self) -> bool:
        return self is FinishReason.LENGTH

    @property
    def is_aborted(self) -> bool:
        return self is FinishReason.ABORT


@dataclasses.dataclass(frozen=True, slots=True)
class Rollout:
    """One sampled response to a prompt.

    Attributes:
        response_text: decoded response (special tokens removed; a matched stop token is cut, as SGLang does).
        finish_reason: why sampling stopped.
        response_token_ids: ``(T,)`` sampled token ids, the matched EOS/stop token included (as SGLang's
            ``output_ids``); empty when only text is known (e.g. scoring a file).
        rollout_logprobs: ``(T,)`` log-probs of the sampled tokens under the rollout engine, or empty.
        weight_version: the engine's weight version when the sample was drawn; ``None`` when unknown.
    """

    response_text: str
    finish_reason: FinishReason = FinishReason.STOP
    response_token_ids: tuple[int, ...] = ()
    rollout_logprobs: tuple[float, ...] = ()
    weight_version: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.response_text, str):
            raise TypeError(f"Rollout.response_text must be str, got {type(self.response_text).__name__}")
        if self.rollout_logprobs and len(self.rollout_logprobs) != len(self.response_token_ids):
            raise ValueError(
                f"Rollout has {len(self.response_token_ids)} token ids but {len(self.rollout_logprobs)} log-probs"
            )

    @property
    def num_tokens(self) -> int:
        """Response length in tokens (0 when only the text is known)."""
        return len(self.response_token_ids)


@dataclasses.dataclass(frozen=True, slots=True)
class RolloutGroup:
    """The G samples drawn for one prompt.

    Attributes:
        prompt_id: stable identifier of the prompt (dataset row id), unique within a batch.
        rollouts: the G samples, in sampling order (the vote's tie-break refers to this order).
        answer: ground-truth answer when the dataset happens to carry one. Used only for diagnostics,
            and as the target of the ``supervised`` reward mode.
        choices: option texts of a multiple-choice question, in letter order (A, B, ...), or empty.
        num_prompt_tokens: prompt length in tokens, images expanded (``Prompt.num_tokens``); 0 when unknown.
    """

    prompt_id: str
    rollouts: tuple[Rollout, ...]
    answer: str | None = None
    choices: tuple[str, ...] = ()
    num_prompt_tokens: int = 0

    def __post_init__(self) -> None:
        if not self.rollouts:
            raise ValueError(f"RolloutGroup {self.prompt_id!r} has no rollouts")

    @property
    def num_samples(self) -> int:
        return len(self.rollouts)

    @property
    def weight_version(self) -> int | None:
        """The oldest weights any of its samples was drawn on (a group's staleness is that of its oldest sample:
        its pseudo-label comes from all of them); ``None`` when the engine does not say."""
        versions = [r.weight_version for r in self.rollouts if r.weight_version is not None]
        return min(versions) if versions else None

    @property
    def responses(self) -> list[str]:
        return [r.response_text for r in self.rollouts]

    @property
    def response_lengths(self) -> list[int]:
        """``(G,)`` response lengths in tokens."""
        return [r.num_tokens for r in self.rollouts]
