"""A byte-level BPE tokenizer for the demo model, laid out like Qwen2.5-VL's.

Qwen2.5-VL's tokenizer is a byte-level BPE (``Qwen2Tokenizer``) whose pre-tokenizer splits text with a
regex that isolates every digit, followed by 22 added tokens (ids 151643-151664 there: ``<|endoftext|>``,
the chat, grounding and vision tokens, then tool-call and fill-in-the-middle tokens). We train the same
pipeline (NFC, the Qwen2 split regex, byte-level) on the demo corpus with HF ``tokenizers`` and append the
same 22 tokens, in the same order and with the same ``special`` flags, after the learned vocabulary. The
result is saved as a ``Qwen2Tokenizer`` and so loads with ``AutoTokenizer`` exactly as the real one does.

Byte level: every string encodes (unknown characters become byte tokens) and decodes back unchanged.
Added tokens are matched before BPE runs, so they are never merged with text.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator

from megatron_mmupt.config.configurable import ConfigError, ConfigNode, check_positive
from megatron_mmupt.data.prompt_renderer import MM_UPT_INSTRUCTION
from megatron_mmupt.demo.task.problem import Problem

QWEN2_PRETOKENIZE_REGEX = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
"""Qwen2's pre-tokenizer split (``transformers.models.qwen2.tokenization_qwen2.PRETOKENIZE_REGEX``)."""

QWEN2_5_VL_ADDED_TOKENS: tuple[tuple[str, bool], ...] = (
    ("<|endoftext|>", True),
    ("<|im_start|>", True),
    ("<|im_end|>", True),
    ("<|object_ref_start|>", True),
    ("<|object_ref_end|>", True),
    ("<|box_start|>", True),
    ("<|box_end|>", True),
    ("<|quad_start|>", True),
    ("<|quad_end|>", True),
    ("<|vision_start|>", True),
    ("<|vision_end|>", True),
    ("<|vision_pad|>", True),
    ("<|image_pad|>", True),
    ("<|video_pad|>", True),
    ("<tool_call>", False),
    ("</tool_call>", False),
    ("<|fim_prefix|>", False),
    ("<|fim_middle|>", False),
    ("<|fim_suffix|>", False),
    ("<|fim_pad|>", False),
    ("<|repo_name|>", False),
    ("<|file_sep|>", False),
)
"""Qwen2.5-VL's added tokens in id order with their ``special`` flag (its ``tokenizer_config.json``)."""

EOS_TOKEN, PAD_TOKEN = "<|im_end|>", "<|endoftext|>"
"""As Qwen2.5-VL-Instruct: generation ends at ``<|im_end|>``; padding is ``<|endoftext|>``; no BOS."""

EXTRA_SPECIAL_TOKENS = tuple(t for t, special in QWEN2_5_VL_ADDED_TOKENS[1:] if special)
"""Qwen2.5-VL's ``additional_special_tokens`` (``<|im_start|>`` .. ``<|video_pad|>``)."""

QWEN2_5_VL_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}"
    "<|im_end|>\n{% else %}{% for content in message['content'] %}{% if content['type'] == 'image' or 'image' in "
    "content or 'image_url' in content %}{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}"
    "Picture {{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>{% elif content['type'] "
    "== 'video' or 'video' in content %}{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}"
    "Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>{% elif 'text' in content "
    "%}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}{% if add_generation_prompt %}"
    "<|im_start|>assistant\n{% endif %}"
)
"""Qwen2.5-VL-Instruct's chat template, verbatim (the same as Qwen2-VL-Instruct's)."""


CHAT_STRINGS = ("system\nYou are a helpful assistant.\n", "user\n", "assistant\n", "Picture 1: ", "Video 1: ")
"""Text the chat template adds around turns: trained on so the prompt scaffolding gets compact tokens."""


@dataclasses.dataclass(kw_only=True, slots=True)
class TokenizerConfig(ConfigNode):
    vocab_size: int = 1024
    """Upper bound on the vocabulary, the 22 added tokens included. BPE stops earlier once every word of
    the corpus is one token (the demo corpus is templated: about 500 tokens then)."""
    min_frequency: int = 2
    """Merges of pairs seen fewer times are not learned."""
    corpus_rows: int = 3000
    """Problems the corpus is drawn from (split ``tokenizer``, seed 0: the same for every dataset seed, so
    datasets of one task config share one tokenizer)."""

    def __post_init__(self) -> None:
        min_size = 256 + len(QWEN2_5_VL_ADDED_TOKENS) + 1
        if self.vocab_size < min_size:
            raise ConfigError(f"vocab_size={self.vocab_size} must be >= {min_size} (256 bytes + added tokens + 1)")
        check_positive("min_frequency", self.min_frequency)
        check_positive("corpus_rows", self.corpus_rows)


def tokenizer_corpus(problems: Iterable[Problem]) -> Iterator[str]:
    """The texts the tokenizer is trained on: prompts (question + MM-UPT instruction), solutions, answers,
    options, and the chat template's own strings."""
    yield from CHAT_STRINGS
    yield MM_UPT_INSTRUCTION
    for problem in problems:
        yield problem.question + MM_UPT_INSTRUCTION
        yield problem.solution
        yield problem.answer
        yield from problem.choices


def train_tokenizer(corpus: Iterable[str], config: TokenizerConfig):
    """Train the byte-level BPE on ``corpus`` and wrap it as a ``transformers`` ``Qwen2Tokenizer`` with
    Qwen2.5-VL's added tokens (ids ``len(bpe) .. len(bpe) + 21``), EOS/PAD and chat template."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers
    from tokenizers.models import BPE
    from tokenizers.trainers import BpeTrainer
    from transformers import Qwen2Tokenizer

    # The pipeline Qwen2Tokenizer rebuilds when it loads vocab + merges: training with another one would
    # learn merges the loaded tokenizer never applies.
    bpe = Tokenizer(BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    bpe.normalizer = normalizers.NFC()
    bpe.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    bpe.decoder = decoders.ByteLevel()
    trainer = BpeTrainer(
        vocab_size=config.vocab_size - len(QWEN2_5_VL_ADDED_TOKENS),
        min_frequency=config.min_frequency,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # all 256 bytes: any text encodes
        show_progress=False,
    )
    bpe.train_from_iterator(corpus, trainer)
    # Added one by one so that each gets the next id, in Qwen2.5-VL's order.
    for content, special in QWEN2_5_VL_ADDED_TOKENS:
        bpe.add_tokens([AddedToken(content, special=special, normalized=False)])
    tokenizer = Qwen2Tokenizer(
        tokenizer_object=bpe,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        bos_token=None,
        unk_token=None,
        extra_special_tokens=list(EXTRA_SPECIAL_TOKENS),
        errors="replace",
        model_max_length=4096,
        clean_up_tokenization_spaces=False,
        split_special_tokens=False,
    )
    tokenizer.chat_template = QWEN2_5_VL_CHAT_TEMPLATE
    _check_added_token_ids(tokenizer, first_id=bpe.get_vocab_size(with_added_tokens=False))
    return tokenizer


def _check_added_token_ids(tokenizer, first_id: int) -> None:
    expected = {content: first_id + i for i, (content, _) in enumerate(QWEN2_5_VL_ADDED_TOKENS)}
    got = {content: tokenizer.convert_tokens_to_ids(content) for content in expected}
    if got != expected or len(tokenizer) != first_id + len(expected):
        raise RuntimeError(f"added token ids {got} differ from the Qwen2.5-VL layout {expected}")
