"""Parameter counts of the small made-up model, by hand (h=8, f=16, 4 heads of 2, 2 KV heads, vocab 100)."""

import dataclasses

from megatron_mmupt.planner.params import decoder_layer_params, language_params, stage_params, vision_params


def test_decoder_layer(small):
    # q = 4*2 = 8, kv = 2*2 = 4: qkv 8*(8+4+4) + 16 bias = 144, proj 8*8 = 64, fc1 + fc2 3*16*8 = 384 -> 592 split;
    # two norms of 8 replicated.
    assert decoder_layer_params(small.text) == 592 + 16
    assert decoder_layer_params(small.text, tensor_degree=2) == 296 + 16


def test_vision_tower(small):
    # h=4, f=6: norms 4 + 4; qkv 4*12 + 12 = 60; proj 16 + 4 = 20; gate, up 2*(24 + 6) = 60; down 24 + 4 = 28
    # -> block 176; patch embedding 3*2*2*2*4 = 96; merger: norm 4, 16x16 + 16 = 272, 16x8 + 8 = 136 -> 412.
    assert vision_params(small.vision) == 96 + 2 * 176 + 412
    plain = dataclasses.replace(small.vision, gated_mlp=False, norm_bias=True)
    # fc1 24 + 6, fc2 24 + 4 -> 58; norms 8 + 8 -> block 16 + 60 + 20 + 58 = 154; merger norm 8 -> 416.
    assert vision_params(plain) == 96 + 2 * 154 + 416


def test_language_model(small):
    # embedding and output layer 100*8 each, 4 layers of 608, final norm 8.
    assert language_params(small.text) == 1600 + 4 * 608 + 8
    assert language_params(dataclasses.replace(small.text, tie_word_embeddings=True)) == 800 + 4 * 608 + 8


def test_pipeline_stages_at_tp2_pp2(small):
    # Padded vocabulary 104 over TP 2: 416 per shard. Stage 0: 2 layers of 312, the embedding, the vision tower.
    first = stage_params(small, tensor_degree=2, pipeline_degree=2, stage=0, padded_vocab=104, freeze_vision=False)
    assert (first.language, first.vision, first.trainable) == (624 + 416, 860, 624 + 416 + 860)
    # Last stage: 2 layers, final norm, output layer.
    last = stage_params(small, tensor_degree=2, pipeline_degree=2, stage=1, padded_vocab=104, freeze_vision=True)
    assert (last.language, last.vision, last.trainable) == (624 + 8 + 416, 0, 1048)
    frozen = stage_params(small, tensor_degree=2, pipeline_degree=2, stage=0, padded_vocab=104, freeze_vision=True)
    assert frozen.total == 1900 and frozen.trainable == 1040


def test_tied_output_layer_is_a_copy_only_across_stages(small):
    tied = dataclasses.replace(small, text=dataclasses.replace(small.text, tie_word_embeddings=True))
    single = stage_params(tied, tensor_degree=1, pipeline_degree=1, stage=0, padded_vocab=100, freeze_vision=True)
    assert single.language == 800 + 4 * 608 + 8
    last = stage_params(tied, tensor_degree=1, pipeline_degree=2, stage=1, padded_vocab=100, freeze_vision=True)
    assert last.language == 2 * 608 + 8 + 800
