"""The dataset folder: parquet that HF datasets decodes, all-or-nothing writes, and the demo-data command."""

import json

import pytest
from PIL import Image

from megatron_mmupt.cli import main
from megatron_mmupt.config.configurable import ConfigError
from megatron_mmupt.demo.task import DemoDataset, TokenizerConfig, dataset
from megatron_mmupt.demo.task.render import render
from megatron_mmupt.utils.errors import InputError

SMALL = {"num_train": 36, "num_test": 18, "tokenizer": TokenizerConfig(corpus_rows=300)}


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "data"
    info = DemoDataset.Config(seed=5, **SMALL).build().write(out)
    return out, info


def test_folder_layout_and_info(written):
    out, info = written
    assert {p.name for p in out.iterdir()} == set(dataset.OUTPUT_ENTRIES)
    assert json.loads((out / "dataset_info.json").read_text()) == info
    assert info["splits"]["train"]["num_rows"] == 36 and info["splits"]["test"]["num_rows"] == 18
    assert sum(info["splits"]["train"]["question_types"].values()) == 36
    assert info["processor"]["image_tokens"] == 16
    readme = (out / "README.md").read_text()
    assert "--seed 5 --num-train 36 --num-test 18" in readme and "`<|image_pad|>` = " in readme
    assert not list(out.parent.glob(".data.*")), "staging folders were left behind"


def test_parquet_round_trips_through_load_dataset(written, task, tmp_path):
    from datasets import load_dataset

    out, _ = written
    files = {split: str(out / f"{split}.parquet") for split in dataset.SPLITS}
    loaded = load_dataset("parquet", data_files=files, cache_dir=str(tmp_path))
    assert loaded["train"].num_rows == 36 and loaded["test"].num_rows == 18
    assert loaded["test"].features == dataset.features()
    problems = list(task.problems(seed=5, split="test", num=18))
    for row, problem in zip(loaded["test"], problems, strict=True):
        (image,) = row["images"]
        assert isinstance(image, Image.Image) and image.size == (112, 112)
        assert image.convert("RGB").tobytes() == render(problem.scene, 112).tobytes()
        assert row["question"] == "<image>" + problem.question and row["answer"] == problem.answer
        assert row["choices"] == list(problem.choices) and row["solution"] == problem.solution
        assert (row["question_type"], row["difficulty"]) == (problem.question_type, problem.difficulty)
    assert len(set(loaded["train"]["id"]) | set(loaded["test"]["id"])) == 54


def test_refuses_a_folder_with_other_files(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(InputError, match=r"holds files this command did not write \(notes.txt\)"):
        DemoDataset.Config(**SMALL).build().write(out)
    (out / "notes.txt").unlink()
    (out / "train.parquet").write_bytes(b"not ours")  # our file name, but no dataset_info.json of ours
    with pytest.raises(InputError, match=r"no dataset_info\.json of a demo dataset"):
        DemoDataset.Config(**SMALL).build().write(out)
    assert (out / "train.parquet").read_bytes() == b"not ours"


def test_replaces_a_previous_demo_dataset(written, tmp_path):
    import shutil

    out = tmp_path / "again"
    shutil.copytree(written[0], out)
    info = DemoDataset.Config(seed=6, **SMALL).build().write(out)
    assert json.loads((out / "dataset_info.json").read_text())["config"]["seed"] == 6 == info["config"]["seed"]
    assert [p.name for p in tmp_path.iterdir()] == ["again"]


def test_a_failure_leaves_the_previous_folder_untouched(written, tmp_path, monkeypatch):
    import shutil

    out = tmp_path / "data"
    shutil.copytree(written[0], out)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}

    def fail(rows, path):
        raise OSError("disk full")

    monkeypatch.setattr(dataset, "write_parquet", fail)
    with pytest.raises(OSError, match="disk full"):
        DemoDataset.Config(seed=7, **SMALL).build().write(out)
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["data"]


@pytest.mark.parametrize("key", ["num_train", "num_test"])
def test_empty_splits_are_refused(key):
    with pytest.raises(ConfigError, match=f"{key}=0 must be >= 1"):
        DemoDataset.Config(**{key: 0})


def test_demo_data_command(tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["demo-data", "--out", str(out), "--seed", "2", "--num-train", "18", "--num-test", "18"]) == 0
    assert "wrote" in capsys.readouterr().out
    info = json.loads((out / "dataset_info.json").read_text())
    assert info["config"]["seed"] == 2 and info["config"]["num_train"] == 18


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--num-test", "0"], "num_test=0 must be >= 1"),
        (["--num-train", "-3"], "num_train=-3 must be >= 1"),
        (["--task.image_size=224"], "demo-data takes no config overrides"),
    ],
)
def test_demo_data_bad_arguments_are_one_line(tmp_path, capsys, args, message):
    out = tmp_path / "cli"
    assert main(["demo-data", "--out", str(out), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not out.exists()


def test_demo_data_refuses_a_foreign_folder(tmp_path, capsys):
    (tmp_path / "paper.tex").write_text("x")
    assert main(["demo-data", "--out", str(tmp_path), "--num-train", "18", "--num-test", "18"]) == 2
    assert "did not write (paper.tex)" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["paper.tex"]
