"""The demo tokenizer: byte-level round trips, unsplittable special tokens, Qwen2.5-VL's layout and template."""

import jinja2
import pytest

from megatron_mmupt.config.configurable import ConfigError
from megatron_mmupt.demo.task import TokenizerConfig, train_tokenizer
from megatron_mmupt.demo.task.tokenizer import MM_UPT_INSTRUCTION, QWEN2_5_VL_ADDED_TOKENS, tokenizer_corpus

# Qwen2.5-VL-7B-Instruct's chat_template.json (identical to Qwen2-VL-2B-Instruct's tokenizer_config.json),
# copied here independently of the module's constant.
REFERENCE_TEMPLATE = "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}{% for message in messages %}{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n{% else %}{% for content in message['content'] %}{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>{% elif content['type'] == 'video' or 'video' in content %}{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"

# Qwen2.5-VL-7B-Instruct's tokenizer_config.json, added_tokens_decoder: ids 151643 .. 151664 in this order;
# the first 14 are special (skipped when decoding with skip_special_tokens), the last 8 are not.
REFERENCE_ADDED_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
    "<tool_call>",
    "</tool_call>",
    "<|fim_prefix|>",
    "<|fim_middle|>",
    "<|fim_suffix|>",
    "<|fim_pad|>",
    "<|repo_name|>",
    "<|file_sep|>",
]
NUM_SPECIAL = 14

CONVERSATIONS = [
    [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "How many circles are there?"}]}],
    [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Compare"}, {"type": "image"}, {"type": "image"}]},
        {"role": "assistant", "content": "I see 2 red circles. \\boxed{2}"},
        {"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "and now?"}]},
    ],
]

TEXTS = [
    "There are 3 red circles and 2 red squares. 3 + 2 = 5. \\boxed{5}",
    "Unseen words: zebra, Straße, 東京, 😀, tabs\tand\nnewlines\r\n  indented",
    "partial specials <|im_end <image> </tool_call ||> {}[]()<>",
    "",
]


def test_text_round_trips_byte_level(tokenizer):
    for text in TEXTS:
        ids = tokenizer(text, add_special_tokens=True).input_ids
        assert tokenizer.decode(ids) == text
    assert tokenizer.unk_token is None


def test_added_tokens_follow_the_bpe_vocabulary_in_qwen_order(tokenizer):
    first = len(tokenizer) - len(REFERENCE_ADDED_TOKENS)
    decoder = tokenizer.added_tokens_decoder
    assert sorted(decoder) == list(range(first, len(tokenizer)))
    for offset, content in enumerate(REFERENCE_ADDED_TOKENS):
        assert decoder[first + offset].content == content
        assert decoder[first + offset].special == (offset < NUM_SPECIAL), content
    assert tokenizer.all_special_tokens[:2] == ["<|im_end|>", "<|endoftext|>"]
    assert set(tokenizer.all_special_tokens) == set(REFERENCE_ADDED_TOKENS[:NUM_SPECIAL])
    assert (
        tokenizer.eos_token == "<|im_end|>" and tokenizer.pad_token == "<|endoftext|>" and tokenizer.bos_token is None
    )


@pytest.mark.parametrize("content", REFERENCE_ADDED_TOKENS)
def test_special_tokens_are_never_split_or_merged(tokenizer, content):
    token_id = tokenizer.convert_tokens_to_ids(content)
    for text in (content, f"x{content}y", f"3{content}{content}. ", f"\\boxed{{{content}}}"):
        ids = tokenizer(text).input_ids
        assert ids.count(token_id) == text.count(content), text
        assert tokenizer.decode(ids) == text
    assert tokenizer("<|image_pad|>" * 16).input_ids == [tokenizer.convert_tokens_to_ids("<|image_pad|>")] * 16


def test_digits_are_single_tokens_as_in_qwen2(tokenizer):
    assert tokenizer.tokenize("1234567890") == list("1234567890")
    assert tokenizer.tokenize(" 17 = 34") == ["Ġ", "1", "7", "Ġ=", "Ġ", "3", "4"]


def test_the_demo_corpus_is_compact(tokenizer, task):
    problem = task.problem(0, "test", 0)
    prompt = problem.question + MM_UPT_INSTRUCTION
    assert len(tokenizer(prompt).input_ids) < 40 and len(tokenizer(problem.solution).input_ids) < 40
    assert 256 + len(QWEN2_5_VL_ADDED_TOKENS) < len(tokenizer) <= TokenizerConfig().vocab_size


@pytest.mark.parametrize("conversation", CONVERSATIONS)
@pytest.mark.parametrize("add_vision_id", [False, True])
def test_chat_template_renders_like_qwen2_5_vl(tokenizer, conversation, add_vision_id):
    expected = (
        jinja2.Environment()
        .from_string(REFERENCE_TEMPLATE)
        .render(messages=conversation, add_generation_prompt=True, add_vision_id=add_vision_id)
    )
    rendered = tokenizer.apply_chat_template(
        conversation, tokenize=False, add_generation_prompt=True, add_vision_id=add_vision_id
    )
    assert rendered == expected


def test_chat_template_first_turn_verbatim(tokenizer):
    rendered = tokenizer.apply_chat_template(CONVERSATIONS[0], tokenize=False, add_generation_prompt=True)
    assert rendered == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
        "<|vision_start|><|image_pad|><|vision_end|>How many circles are there?<|im_end|>\n<|im_start|>assistant\n"
    )


def test_training_is_deterministic(task, tokenizer):
    corpus = list(tokenizer_corpus(task.problems(seed=0, split="tokenizer", num=300)))
    again = train_tokenizer(corpus, TokenizerConfig(corpus_rows=300))
    assert again.backend_tokenizer.to_str() == tokenizer.backend_tokenizer.to_str()


def test_vocab_size_bounds_the_vocabulary(task):
    corpus = list(tokenizer_corpus(task.problems(seed=0, split="tokenizer", num=50)))
    small = train_tokenizer(corpus, TokenizerConfig(vocab_size=300))
    assert len(small) == 300
    with pytest.raises(ConfigError, match="vocab_size=100 must be >= 279"):
        TokenizerConfig(vocab_size=100)
