"""``tools/make_demo_model.py`` (SFT warm-up -> HF folder + training.json) and the shipped base model."""

import json
import sys
from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer, Qwen2_5_VLForConditionalGeneration

from megatron_mmupt.data.processing import load_processors
from megatron_mmupt.data.prompt_batch import PromptBatch
from megatron_mmupt.demo.sft import load_split, writing_split
from megatron_mmupt.demo.task import DemoDataset, DemoTask, save_processor, train_tokenizer
from megatron_mmupt.demo.task.alternatives import scene_problems
from megatron_mmupt.demo.task.tokenizer import tokenizer_corpus
from megatron_mmupt.models.tiny_qwen2_5_vl import PROCESSOR_FILES
from megatron_mmupt.rollout.engine import SamplingConfig
from megatron_mmupt.rollout.local.engine import LocalEngine

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = ROOT / "examples" / "demo_base_model"


def _make_demo_model():
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import make_demo_model
    finally:
        sys.path.pop(0)
    return make_demo_model


def _generates(model_dir: Path, data_dir: Path) -> list:
    engine = LocalEngine.Config(model_path=str(model_dir), device="cpu").build()
    prompts = load_split(data_dir, "test", load_processors(model_dir), limit=2).prompts
    groups = engine.generate(PromptBatch(prompts), SamplingConfig(n=2, temperature=1.0, max_new_tokens=8))
    engine.shutdown()
    return groups


def test_quick_schedule_writes_a_model_folder_that_loads_and_generates(demo_dir, tmp_path):
    out = tmp_path / "base"
    report = _make_demo_model().main(
        ["--data", str(demo_dir), "--out", str(out), "--steps", "20", "--batch-size", "8", "--num-eval", "4",
         "--samples", "2", "--temperatures", "1.0", "--threads", "1"]
    )  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["base"]  # published by a rename, no staging left
    training = json.loads((out / "training.json").read_text())
    assert training == json.loads(json.dumps(report))
    assert (training["sft"]["steps"], training["sft"]["seed"], training["sft"]["batch_size"]) == (20, 0, 8)
    assert training["sft"]["seconds"] > 0 and training["sft"]["final_loss"] < 7
    assert [e["temperature"] for e in training["evaluations"]] == [1.0]
    figures = training["evaluations"][0]["figures"]["all"]
    assert figures["n"] == 4 and 0 <= figures["pass@1"] <= 1 and 0 <= figures["maj@2"] <= 1
    for name in PROCESSOR_FILES:
        assert (out / name).read_bytes() == (demo_dir / "processor" / name).read_bytes()

    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(out)
    assert 0.5e6 < sum(p.numel() for p in model.parameters()) < 1.5e6
    assert AutoTokenizer.from_pretrained(out).eos_token == "<|im_end|>"
    groups = _generates(out, demo_dir)
    assert len(groups) == 2 and all(r.num_tokens > 0 for g in groups for r in g.rollouts)


def test_sft_is_seeded(demo_dir, tmp_path):
    tool = _make_demo_model()
    common = ["--data", str(demo_dir), "--steps", "6", "--batch-size", "8", "--num-eval", "0", "--threads", "1"]
    a = tool.main([*common, "--out", str(tmp_path / "a")])
    b = tool.main([*common, "--out", str(tmp_path / "b")])
    assert a["evaluations"] == []
    assert a["sft"]["final_loss"] == b["sft"]["final_loss"]
    model_a = Qwen2_5_VLForConditionalGeneration.from_pretrained(tmp_path / "a")
    model_b = Qwen2_5_VLForConditionalGeneration.from_pretrained(tmp_path / "b")
    assert all(torch.equal(x, y) for x, y in zip(model_a.parameters(), model_b.parameters(), strict=True))


def test_writing_split_asks_for_questions_about_the_same_scene(demo_dir):
    processors = load_processors(demo_dir / "processor")
    split = writing_split(demo_dir, "train", processors, limit=12)
    info = json.loads((demo_dir / "dataset_info.json").read_text())
    task = DemoTask.Config(**info["config"]["task"]).build()
    assert len(split) == 24  # every image twice: direct, then in context
    for row in range(len(split)):
        problem = task.problem(info["config"]["seed"], "train", row // 2)
        prompt = processors.tokenizer.decode(split.prompts[row].input_ids)
        target = processors.tokenizer.decode(split.solutions[row])
        assert target.endswith("<|im_end|>") and "Please reason step by step" not in prompt
        options = [p.question for p in scene_problems(problem)]
        assert target.removesuffix("<|im_end|>") in options
        if row % 2:  # in context: the example is the image's question, the target another one where there is one
            assert f"Example question about this image:\n{problem.question}" in prompt
            assert len(options) == 1 or target.removesuffix("<|im_end|>") != problem.question
        else:
            assert "Example question" not in prompt


def test_init_and_writing_continue_from_a_model_folder(demo_dir, tmp_path):
    tool = _make_demo_model()
    common = ["--data", str(demo_dir), "--batch-size", "8", "--num-eval", "0", "--threads", "1"]
    first = tool.main([*common, "--steps", "4", "--out", str(tmp_path / "a")])
    second = tool.main(
        [*common, "--steps", "4", "--init", str(tmp_path / "a"), "--writing", "--out", str(tmp_path / "b")]
    )
    assert second["init"] == json.loads(json.dumps(first)) and second["sft"]["writing"] is True
    assert second["sft"]["num_train"] == 3 * first["sft"]["num_train"]  # answers + two writing prompts per image
    assert second["model"] == first["model"]


@pytest.mark.slow
def test_shipped_base_model_matches_the_demo_processor(tmp_path):
    """The shipped model's tokenizer and image processor are those ``megatron-mmupt demo-data`` writes."""
    config = DemoDataset.Config()
    task = config.task.build()
    problems = task.problems(seed=0, split="tokenizer", num=config.tokenizer.corpus_rows)
    save_processor(tmp_path / "processor", train_tokenizer(tokenizer_corpus(problems), config.tokenizer),
                   config.task.image_size)  # fmt: skip
    for name in PROCESSOR_FILES:
        assert (SHIPPED / name).read_bytes() == (tmp_path / "processor" / name).read_bytes(), name
    training = json.loads((SHIPPED / "training.json").read_text())
    for evaluation in training["evaluations"]:
        figures = evaluation["figures"]["all"]
        # Partly competent, with room for the vote: the majority of 8 beats single samples.
        assert 0.15 < figures["pass@1"] < 0.7 and figures["maj@8"] > figures["pass@1"]
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(SHIPPED)
    assert sum(p.numel() for p in model.parameters()) < 1.5e6
