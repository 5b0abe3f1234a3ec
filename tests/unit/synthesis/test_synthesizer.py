"""``Synthesizer`` end to end with a scripted engine (every filter, exact counts, the output dataset), and
``megatron-mmupt synthesize`` with the real local engine."""

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from megatron_mmupt.cli import main
from megatron_mmupt.data.encoder import PromptEncoder
from megatron_mmupt.data.images import ImageConfig
from megatron_mmupt.data.processing import load_processors
from megatron_mmupt.data.prompt_renderer import PromptConfig
from megatron_mmupt.data.source import DatasetSource
from megatron_mmupt.rollout.types import FinishReason, Rollout, RolloutGroup
from megatron_mmupt.synthesis import SynthesisConfig, Synthesizer
from megatron_mmupt.synthesis.filters import FilterConfig
from megatron_mmupt.utils.errors import InputError

WRITTEN = {  # seed id -> the questions_per_image=4 responses of the writer
    "a": [
        "How many red circles are there?",  # kept (answers agree)
        "how many squares are there?",  # copy of the seed question
        "How many red circles are there ?",  # duplicate of the first
        "I see 3 squares. \\boxed{3}",  # unparseable
    ],
    "b": [
        ("What is the sum of the", FinishReason.LENGTH),  # truncated
        "Why?",  # too short
        "Which is larger?\nChoices:\n(A) 12\n(B) 21",  # kept (multiple choice)
        "What is the sum of the two numbers?",  # not answerable (answers disagree)
    ],
}
ANSWERS = {  # candidate id -> the k=8 answers
    "a-0": ["\\boxed{3}"] * 6 + ["\\boxed{4}"] * 2,
    "b-2": ["\\boxed{B}"] * 5 + ["\\boxed{A}"] * 3,
    "b-3": ["\\boxed{1}", "\\boxed{2}", "\\boxed{3}", "\\boxed{4}", "\\boxed{5}", "\\boxed{6}", "no", "\\boxed{1}"],
}


class ScriptedEngine:
    """A fake rollout engine: answers from the tables above, keyed by prompt id; records the prompts."""

    def __init__(self):
        self.prompts = []

    def generate(self, batch, sampling):
        groups = []
        for prompt in batch:
            self.prompts.append(prompt)
            writing = "Write a new question" in prompt.text
            script = WRITTEN[prompt.id] if writing else ANSWERS[prompt.id]
            assert len(script) == sampling.n
            rollouts = [Rollout(*s) if isinstance(s, tuple) else Rollout(s) for s in script]
            groups.append(RolloutGroup(prompt.id, tuple(rollouts), choices=prompt.choices))
        return groups


def _png(colour):
    buffer = io.BytesIO()
    Image.new("RGB", (56, 56), colour).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def seed_file(tmp_path):
    rows = [
        {"id": "a", "question": "<image>How many squares are there?", "images": [{"bytes": _png("red"), "path": None}],
         "answer": "3"},
        {"id": "b", "question": "<image>What is the sum?", "images": [{"bytes": _png("blue"), "path": None}],
         "answer": "7"},
    ]  # fmt: skip
    path = tmp_path / "seed.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def _config(tiny_model_dir, seed_file, out, method="in-context"):
    return SynthesisConfig(
        method=method, model_path=str(tiny_model_dir), output_dir=str(out),
        seed_data=DatasetSource.Config(path=str(seed_file)), questions_per_image=4,
        filters=FilterConfig(k=8, min_share=0.5),
    )  # fmt: skip


def test_every_filter_counts_and_the_kept_questions_form_a_dataset_train_reads(tiny_model_dir, seed_file, tmp_path):
    engine = ScriptedEngine()
    summary = Synthesizer(_config(tiny_model_dir, seed_file, tmp_path / "out"), engine).run()

    assert summary["written"] == 8 and summary["kept"] == 2 and summary["multiple_choice"] == 1
    assert summary["rejected"] == {"truncated": 1, "unparseable": 1, "length": 1, "copy": 1, "duplicate": 1,
                                   "not_answerable": 1}  # fmt: skip
    assert summary["unparseable_reasons"] == {"answers instead of asking (\\boxed{} in the response)": 1}
    assert summary["mean_consensus_share"] == pytest.approx((0.75 + 0.625) / 2)

    # Writer prompts show the seed question in context; answer prompts are the training prompt with options.
    writer_a = next(p.text for p in engine.prompts if p.id == "a")
    assert "Example question about this image:\nHow many squares are there?" in writer_a
    answer_b2 = next(p for p in engine.prompts if p.id == "b-2")
    assert "Which is larger?\nChoices:\n(A) 12\n(B) 21 Please reason step by step" in answer_b2.text
    assert answer_b2.choices == ("12", "21")

    source = DatasetSource.Config(path=str(tmp_path / "out" / "train.parquet")).build()
    examples = [source.example(i) for i in range(len(source))]
    assert [(e.id, e.question, e.choices, e.answer) for e in examples] == [
        ("a-0", "<image>How many red circles are there?", (), None),
        ("b-2", "<image>Which is larger?", ("12", "21"), None),
    ]
    encoder = PromptEncoder(load_processors(tiny_model_dir), PromptConfig(), ImageConfig())
    assert all(encoder.encode(e).num_images == 1 for e in examples)
    table = pq.read_table(tmp_path / "out" / "train.parquet").to_pydict()
    assert table["consensus_answer"] == ["3", "B"] and table["seed_id"] == ["a", "b"]
    assert table["images"][0][0]["bytes"] == _png("red")
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["kept"] == 2
    assert "| rejected: copy | 1 | 12.5% |" in (tmp_path / "out" / "summary.md").read_text()


def test_direct_prompts_do_not_show_the_seed_question(tiny_model_dir, seed_file, tmp_path):
    engine = ScriptedEngine()
    Synthesizer(_config(tiny_model_dir, seed_file, tmp_path / "out", method="direct"), engine).run()
    writer_a = next(p.text for p in engine.prompts if p.id == "a")
    assert "Write a new question about this image" in writer_a and "squares" not in writer_a


def test_a_foreign_output_folder_is_refused_and_left_alone(tiny_model_dir, seed_file, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="holds files this command did not write"):
        Synthesizer(_config(tiny_model_dir, seed_file, out), ScriptedEngine()).run()
    assert (out / "notes.txt").read_text() == "mine"


def test_bad_paths_fail_before_a_model_is_loaded(tmp_path, capsys):
    code = main(["synthesize", "--method", "direct", "--model", str(tmp_path / "missing"), "--data", "x.parquet",
                 "--out", str(tmp_path / "o")])  # fmt: skip
    assert code == 2 and "is not a model folder" in capsys.readouterr().err


@pytest.mark.parametrize("method", ["in-context", "direct"])
def test_cli_with_the_local_engine_on_the_demo_data(tiny_model_dir, demo_dir, tmp_path, method, capsys):
    out = tmp_path / method
    argv = ["synthesize", "--method", method, "--model", str(tiny_model_dir), "--data", str(demo_dir / "train.parquet"),
            "--out", str(out), "seed_data.max_rows=3", "rollout.local.device=cpu", "max_new_tokens=16",
            "filters.k=2", "filters.min_share=0"]  # fmt: skip
    code = main(argv)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["seed_rows"] == 3 and summary["written"] == 6
    assert sum(summary["rejected"].values()) + summary["kept"] == summary["written"]
    captured = capsys.readouterr()
    assert f"Synthesis ({method})" in captured.out
    if summary["kept"]:  # the untrained model rarely writes a question: then the command fails, saying why
        assert code == 0 and len(DatasetSource.Config(path=str(out / "train.parquet")).build()) == summary["kept"]
    else:
        assert code == 2 and "no written question passed the filters" in captured.err
        assert not (out / "train.parquet").exists()


def test_a_missing_seed_dataset_is_named_before_the_model_loads(tiny_model_dir, tmp_path, capsys, monkeypatch):
    import megatron_mmupt.synthesis.synthesizer as synthesizer

    monkeypatch.setattr(synthesizer, "open_engine", lambda *a, **k: pytest.fail("the engine was opened"))
    code = main(["synthesize", "--method", "direct", "--model", str(tiny_model_dir), "--data",
                 str(tmp_path / "missing.parquet"), "--out", str(tmp_path / "o")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "seed_data.path=" in err and "does not exist" in err
    assert not (tmp_path / "o").exists()
