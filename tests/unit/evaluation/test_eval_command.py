"""``megatron-mmupt eval`` end to end on the shipped demo model, and its refusals: one line naming the fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from datasets import Dataset

from megatron_mmupt.cli import main
from megatron_mmupt.evaluation.report import RESULTS_JSON
from megatron_mmupt.rollout.local.engine import LocalEngine
from megatron_mmupt.rollout.serve.server import RolloutServer

BASE_MODEL = Path(__file__).resolve().parents[3] / "examples" / "demo_base_model"
QUICK = [
    "n=2",
    "max_new_tokens=40",
    "temperature=1.0",
    "batch_size=4",
    "data.num_workers=0",
    "rollout.local.device=cpu",
]


def run_eval(capsys, out: Path, *args: str) -> tuple[int, str, str]:
    code = main(["eval", "--out", str(out), *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.slow  # samples 2 x 6 answers with the local engine, then the same through `serve`: ~10 s here
def test_eval_on_the_demo_split_through_the_local_engine_and_a_server(demo_dir, tmp_path, capsys):
    benchmark = ["--model", str(BASE_MODEL), "--benchmark", f"demo={demo_dir / 'test.parquet'}"]
    settings = [*QUICK, "benchmarks.demo.max_rows=6", f"benchmarks.demo.cache_dir={tmp_path / 'hf'}"]
    code, printed, _ = run_eval(capsys, tmp_path / "local", *benchmark, *settings)
    assert code == 0 and "| demo task | 6 |" in printed and "breakdowns per benchmark:" in printed
    assert "| question_type | questions | pass@1 | maj@2 |" in (tmp_path / "local" / "results.md").read_text()
    local = json.loads((tmp_path / "local" / RESULTS_JSON).read_text())["benchmarks"]["demo"]
    assert local["generated"] == 6 and local["summary"]["answer_rate"] > 0.5
    assert {"question_type", "difficulty"} == set(local["breakdowns"])

    # The same questions through the SGLang client against `megatron-mmupt serve` with per-sample seeds.
    engine = LocalEngine.Config(model_path=str(BASE_MODEL), device="cpu")
    server = RolloutServer.Config(engine=engine, port=0).build().start()
    try:
        served = [f"server_url={server.url}", "rollout.client.send_seeds=true"]
        code, _, _ = run_eval(capsys, tmp_path / "served", *benchmark, *settings, *served)
    finally:
        server.close()
    assert code == 0
    remote = json.loads((tmp_path / "served" / RESULTS_JSON).read_text())["benchmarks"]["demo"]
    assert [i["answers"] for i in remote["items"]] == [i["answers"] for i in local["items"]]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--benchmark", "mathvistaa=x.parquet"], "unknown benchmark 'mathvistaa'; choose one of: mathvista, we_math"),
        (["--benchmark", "we_math"], "benchmark 'we_math' needs its data: --benchmark we_math=PATH, where PATH is"),
        (["--benchmark", "mathvista=/no/such/testmini.parquet"], "no such file or folder; MathVista is read from"),
        (
            ["--benchmark", "demo=x", "benchmarks.demo.max_row=3"],
            "unknown config key 'max_row'; did you mean: max_rows",
        ),
        (["--benchmark", "demo=x", "temprature=1"], "unknown config key 'temprature'; did you mean: temperature"),
    ],
)
def test_bad_arguments_fail_before_any_work(tiny_model_dir, tmp_path, capsys, args, message):
    code, _, err = run_eval(capsys, tmp_path / "out", "--model", str(tiny_model_dir), *args)
    assert code == 2 and message in err and "Traceback" not in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_a_file_of_another_layout_is_named_with_the_columns_it_lacks(tiny_model_dir, tmp_path, capsys, png):
    rows = {"question": ["What is x?"], "images": [[{"bytes": png(), "path": None}]], "answer": ["3"]}
    Dataset.from_dict(rows).to_parquet(tmp_path / "mine.parquet")
    code, _, err = run_eval(
        capsys, tmp_path / "out", "--model", str(tiny_model_dir), "--benchmark", f"mathvista={tmp_path / 'mine.parquet'}",
        f"benchmarks.mathvista.cache_dir={tmp_path / 'hf'}",
    )  # fmt: skip
    assert code == 2 and "Traceback" not in err
    assert "is not in the MathVista layout: column 'image' or 'decoded_image' missing" in err
    assert "pass benchmarks.mathvista.columns.images=<your column> (the row has: question, images, answer)" in err
    assert "MathVista is read from the hub parquet" in err


def test_a_missing_model_is_named(tmp_path, capsys, demo_dir):
    code, _, err = run_eval(capsys, tmp_path / "out", "--model", str(tmp_path / "nope"), "--benchmark", "demo")
    assert code == 2 and f"--model {tmp_path / 'nope'}: no such folder; give a Hugging Face model folder" in err
    assert not (tmp_path / "out").exists()
