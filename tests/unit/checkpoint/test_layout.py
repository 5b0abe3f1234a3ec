import json

import pytest

from megatron_mmupt.checkpoint.layout import (
    MANIFEST_FILE,
    Manifest,
    complete_checkpoints,
    is_complete,
    is_temporary,
    parse_step,
    step_name,
    temporaries,
    temporary_name,
)


def test_names_parse_back_and_temporaries_are_not_steps():
    assert step_name(4) == "step_000004" and parse_step("step_000004") == 4
    assert parse_step(step_name(12_345_678)) == 12_345_678  # wider than the padding
    staging = temporary_name(4)
    assert staging.startswith(".step_000004.tmp-") and is_temporary(staging) and parse_step(staging) is None
    assert temporary_name(4) != staging  # fresh every time
    assert [parse_step(n) for n in ("latest", "step_", "step_4x", "hf")] == [None] * 4
    assert not is_temporary("step_000004") and not is_temporary(".step_000004.partial")
    with pytest.raises(ValueError, match="step must be >= 0"):
        step_name(-1)


def test_a_folder_is_complete_only_with_its_manifest_written_last(make_checkpoint):
    folder = make_checkpoint(3)
    assert is_complete(folder) and Manifest.read(folder).step == 3
    (folder / MANIFEST_FILE).write_text('{"step": 3, "world_si')  # torn
    assert not is_complete(folder) and Manifest.read(folder) is None
    fields = {"step": 3, "world_size": 1, "tensor_degree": 1, "pipeline_degree": 1, "data_degree": 1}
    (folder / MANIFEST_FILE).write_text(json.dumps({**fields, "format": "someone-else/9"}))
    assert not is_complete(folder)
    (folder / MANIFEST_FILE).write_text(json.dumps(fields))
    assert is_complete(folder)
    (folder / "metadata.json").unlink()  # Megatron's part missing
    assert not is_complete(folder)


def test_listing_sorts_by_step_and_skips_temporaries_and_incomplete(tmp_path, make_checkpoint):
    for step in (10, 2, 9):
        make_checkpoint(step)
    (tmp_path / "step_000011").mkdir()  # incomplete
    (tmp_path / temporary_name(12)).mkdir()
    (tmp_path / "hf").mkdir()
    assert [step for step, _ in complete_checkpoints(tmp_path)] == [2, 9, 10]
    assert [p.name.startswith(".step_000012.tmp-") for p in temporaries(tmp_path)] == [True]
    assert complete_checkpoints(tmp_path / "absent") == [] and temporaries(tmp_path / "absent") == []
