"""DatasetSource: every file format, folders and splits, hub names offline, lazy images, config errors."""

from __future__ import annotations

import io
import json
import pickle

import datasets
import pytest
from datasets import Dataset, DatasetDict, Features, Image, List, Value
from PIL import Image as PILImage

from megatron_mmupt.config.configurable import ConfigError
from megatron_mmupt.config.overrides import apply_overrides
from megatron_mmupt.data.source import ColumnsConfig, DatasetSource
from megatron_mmupt.data.types import BadRow
from megatron_mmupt.utils.errors import InputError

ROWS = [{"question": f"q{i}", "images": None, "answer": str(i)} for i in range(3)]


def png() -> bytes:
    buffer = io.BytesIO()
    PILImage.new("RGB", (2, 2), "red").save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def build(tmp_path):
    def make(path, **config) -> DatasetSource:
        config.setdefault("cache_dir", str(tmp_path / "hf-cache"))
        return DatasetSource.Config(path=str(path), **config).build()

    return make


def questions(source: DatasetSource) -> list[str]:
    return [source.example(i).question for i in range(len(source))]


# --- formats -----------------------------------------------------------------------------------------


def test_parquet_jsonl_json_arrow_files_and_a_save_to_disk_folder(tmp_path, build):
    dataset = Dataset.from_list(ROWS)
    dataset.to_parquet(tmp_path / "a.parquet")
    dataset.to_parquet(tmp_path / "a[1].parquet")  # an existing file is read as is, never as a glob
    dataset.to_json(tmp_path / "a.jsonl")
    (tmp_path / "a.json").write_text(json.dumps(ROWS))
    dataset.save_to_disk(tmp_path / "saved")
    arrow = tmp_path / "saved" / "data-00000-of-00001.arrow"
    paths = ["a.parquet", "a[1].parquet", "a.jsonl", "a.json", arrow, "saved"]
    for path in (tmp_path / p for p in paths):
        assert questions(build(path)) == ["q0", "q1", "q2"], path


def test_json_object_of_records_reads_its_values(tmp_path, build):
    (tmp_path / "testmini.json").write_text(json.dumps({"1": ROWS[0], "2": ROWS[1]}))
    assert questions(build(tmp_path / "testmini.json")) == ["q0", "q1"]
    (tmp_path / "lines.json").write_text("".join(json.dumps(r) + "\n" for r in ROWS))  # JSON Lines named .json
    assert questions(build(tmp_path / "lines.json")) == ["q0", "q1", "q2"]


def test_json_that_is_neither_records_nor_a_mapping_of_them(tmp_path, build):
    (tmp_path / "bad.json").write_text(json.dumps({"rows": 3}))
    with pytest.raises(InputError, match=r"bad.json: expected a list of records or an object mapping ids to records"):
        len(build(tmp_path / "bad.json"))


def test_format_override_reads_a_file_with_another_extension(tmp_path, build):
    (tmp_path / "rows.txt").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    assert len(build(tmp_path / "rows.txt", format="jsonl")) == 3
    with pytest.raises(
        InputError, match=r"cannot tell one format from the file extensions \(\.txt\).*data.source.format"
    ):
        len(build(tmp_path / "rows.txt"))


def test_glob_concatenates_files_and_resolves_images_against_its_folder(tmp_path, build):
    (tmp_path / "shards" / "img").mkdir(parents=True)
    (tmp_path / "shards" / "img" / "a.png").write_bytes(png())
    for i in range(2):
        rows = [{"question": f"s{i}", "images": "img/a.png"}]
        Dataset.from_list(rows).to_parquet(tmp_path / "shards" / f"train-{i}.parquet")
    source = build(tmp_path / "shards" / "train-*.parquet")
    assert questions(source) == ["s0", "s1"]
    assert source.example(1).images == (str(tmp_path / "shards" / "img" / "a.png"),)


def test_save_to_disk_dataset_dict_picks_the_split_and_lists_the_others(tmp_path, build):
    DatasetDict({"train": Dataset.from_list(ROWS), "testmini": Dataset.from_list(ROWS[:1])}).save_to_disk(
        tmp_path / "dd"
    )
    assert len(build(tmp_path / "dd", split="testmini")) == 1
    with pytest.raises(InputError, match=r"has no split 'test'; its splits: train, testmini; set data.source.split"):
        len(build(tmp_path / "dd", split="test"))


def test_hub_snapshot_folder_infers_splits_from_file_names(tmp_path, build):
    (tmp_path / "MathVista" / "data").mkdir(parents=True)
    Dataset.from_list(ROWS).to_parquet(tmp_path / "MathVista" / "data" / "testmini-00000-of-00001.parquet")
    Dataset.from_list(ROWS[:2]).to_parquet(tmp_path / "MathVista" / "data" / "test-00000-of-00001.parquet")
    assert len(build(tmp_path / "MathVista", split="testmini")) == 3
    with pytest.raises(InputError, match=r"no split 'train'; its splits: "):
        len(build(tmp_path / "MathVista"))


# --- errors ------------------------------------------------------------------------------------------


def test_missing_path_names_it_and_the_accepted_formats(tmp_path, build):
    with pytest.raises(InputError) as caught:
        len(build(tmp_path / "nope.parquet"))
    assert f"data.source.path='{tmp_path / 'nope.parquet'}' does not exist" in str(caught.value)
    assert "a .parquet, .jsonl, .json or .arrow file, a glob of them" in str(caught.value)
    with pytest.raises(InputError, match="matches no file"):
        len(build(tmp_path / "*.parquet"))


def test_hub_name_without_network_says_the_hub_is_unreachable(build, monkeypatch):
    # Offline mode fails at once with the ConnectionError that a machine without network gets after retries.
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    with pytest.raises(InputError) as caught:
        len(build("AI4Math/MathVista", split="testmini", preset="mathvista"))
    message = str(caught.value)
    assert "is not a local path, so it was read as a hub name, but the hub is unreachable" in message
    assert "pass data.source.path=DIR" in message


def test_corrupt_file_names_the_path_and_format(tmp_path, build):
    (tmp_path / "broken.parquet").write_bytes(b"not parquet")
    with pytest.raises(InputError, match=r"broken.parquet'.*cannot read as parquet"):
        len(build(tmp_path / "broken.parquet"))


# --- rows ----------------------------------------------------------------------------------------------


def test_images_stay_undecoded_structs(tmp_path, build):
    features = Features({"question": Value("string"), "images": List(Image()), "image": Image()})
    rows = {
        "question": ["q"],
        "images": [[{"bytes": png(), "path": None}]],
        "image": [{"bytes": png(), "path": "x.png"}],
    }
    Dataset.from_dict(rows, features=features).to_parquet(tmp_path / "i.parquet")
    source = build(tmp_path / "i.parquet")
    loaded = source.load()
    assert loaded.features["images"] == List(Image(decode=False))
    assert loaded.features["image"] == Image(decode=False)
    assert loaded[0]["image"] == {"bytes": png(), "path": "x.png"}
    assert source.example(0).images == ({"bytes": png(), "path": None},)


def test_max_rows_name_and_lazy_single_load(tmp_path, build):
    Dataset.from_list(ROWS).to_parquet(tmp_path / "rows.parquet")
    source = build(tmp_path / "rows.parquet", max_rows=2)
    assert len(source) == 2
    assert source.load() is source.load()
    assert source.example(1).id == "rows-1"
    assert build(tmp_path / "rows.parquet", name="mine").example(0).id == "mine-0"
    with pytest.raises(IndexError, match="row 2 is out of range for 2 rows"):
        source.example(2)


def test_a_loaded_source_pickles_for_spawned_workers(tmp_path, build):
    Dataset.from_list(ROWS).to_parquet(tmp_path / "rows.parquet")
    source = build(tmp_path / "rows.parquet")
    assert pickle.loads(pickle.dumps(source)).example(2) == source.example(2)


# --- config --------------------------------------------------------------------------------------------


def test_unknown_preset_lists_the_valid_ones():
    with pytest.raises(ConfigError, match=r"preset='mathvist' is not valid; choose one of: generic, geometry3k, geoqa"):
        DatasetSource.Config(path="x.parquet", preset="mathvist")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"columns.questoin": "prompt"}, r"unknown config key 'columns.questoin'; did you mean: columns.question"),
        (
            {"format": "csv"},
            r"format='csv' is not valid; choose one of: auto, parquet, jsonl, json, arrow, save_to_disk",
        ),
        ({"max_rows": "0"}, r"max_rows=0 must be > 0"),
        ({"columns.answer": " "}, r"columns.answer is empty"),
    ],
)
def test_config_errors(overrides, message):
    with pytest.raises(ConfigError, match=message):
        apply_overrides(DatasetSource.Config(path="x.parquet"), overrides)


def test_string_overrides_coerce_to_the_typed_fields():
    config = apply_overrides(
        DatasetSource.Config(columns=ColumnsConfig(answer="label")),
        [
            "preset=mathvista",
            "path=/data/mathvista/testmini.parquet",
            "split=testmini",
            "max_rows=50",
            "columns.answer=none",
        ],
    )
    assert (config.preset, config.split, config.max_rows, config.columns.answer) == ("mathvista", "testmini", 50, None)


def test_build_without_a_path_fails():
    with pytest.raises(ConfigError, match=r"data.source.path is empty"):
        DatasetSource.Config().build()


def test_metadata_columns_are_copied_and_a_missing_one_is_a_bad_row(tmp_path, build):
    rows = [{**row, "kind": f"k{i}", "tags": ["a", "b"]} for i, row in enumerate(ROWS)]
    Dataset.from_list(rows).to_parquet(tmp_path / "rows.parquet")
    source = build(tmp_path / "rows.parquet", metadata_columns=("kind", "tags"))
    assert source.example(1).metadata == {"kind": "k1", "tags": ["a", "b"]}
    missing = build(tmp_path / "rows.parquet", metadata_columns=("level",)).config
    with pytest.raises(BadRow, match=r"column 'level' \(from eval.source.metadata_columns\) missing; the row has"):
        missing.build(config_key="eval.source").example(0)
    assert apply_overrides(missing, ["metadata_columns=kind,tags"]).metadata_columns == ("kind", "tags")
