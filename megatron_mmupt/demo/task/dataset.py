"""Write the demo dataset folder: train/test parquet, the processor folder, a README and dataset_info.json.

Layout of ``out/`` (all or nothing: everything is written into a temporary sibling folder, which then
replaces ``out``; a failure leaves ``out`` as it was):

* ``train.parquet``, ``test.parquet``: one row per problem, columns ``features()`` (the HF ``datasets``
  schema is embedded, so ``load_dataset("parquet", ...)`` decodes ``images`` to PIL);
* ``processor/``: tokenizer + chat template + image processor (``processor.save_processor``);
* ``dataset_info.json``: the config, the processor's token ids and sizes, per-split counts;
* ``README.md``: the same for people.

An existing ``out`` is replaced only when it is empty or holds nothing but a previous demo dataset.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from megatron_mmupt.config.configurable import ConfigError, Configurable
from megatron_mmupt.data.presets.generic import generic_features
from megatron_mmupt.demo.task.generator import DemoTask
from megatron_mmupt.demo.task.processor import ProcessorSpec, save_processor
from megatron_mmupt.demo.task.readme import readme_text
from megatron_mmupt.demo.task.tokenizer import (
    MM_UPT_INSTRUCTION,
    TokenizerConfig,
    tokenizer_corpus,
    train_tokenizer,
)
from megatron_mmupt.utils import atomic
from megatron_mmupt.utils.atomic import replace_directory

GENERATOR = "megatron_mmupt.demo.task"
"""Marks ``dataset_info.json`` as ours: a folder carrying it may be replaced."""
SPLITS = ("train", "test")
OUTPUT_ENTRIES = frozenset({"train.parquet", "test.parquet", "processor", "README.md", "dataset_info.json"})
ROW_GROUP_SIZE = 512
"""Rows per parquet row group: a few hundred KB of PNGs, so readers stream without loading a split."""


def features() -> Any:
    """The HF ``datasets`` schema of both splits (the generic schema plus ``solution`` and metadata)."""
    from datasets import Value

    return generic_features(question_type=Value("string"), difficulty=Value("int32"), solution=Value("string"))


class DemoDataset(Configurable):
    """Generates the demo task's splits and the tokenizer/processor trained for it."""

    @dataclasses.dataclass(kw_only=True, slots=True)
    class Config(Configurable.Config):
        seed: int = 0
        """Seed of both splits (the tokenizer corpus has its own fixed seed, see ``TokenizerConfig``)."""
        num_train: int = 4000
        """Training problems: ~220 per (type, difficulty) pair; generated at ~1 ms a row. A few minutes of
        SFT on CPU (2000 steps of 32) sees each row ~16 times; RL samples its prompts from this split too."""
        num_test: int = 1000
        """Held-out problems: at 1000, the standard error of an accuracy near 0.4 is about 1.5 points,
        small enough to see the few-point gains majority-vote RL makes."""
        task: DemoTask.Config = dataclasses.field(default_factory=DemoTask.Config)
        tokenizer: TokenizerConfig = dataclasses.field(default_factory=TokenizerConfig)

        def __post_init__(self) -> None:
            for key in ("num_train", "num_test"):
                if getattr(self, key) < 1:
                    raise ConfigError(f"{key}={getattr(self, key)} must be >= 1")

    def __init__(self, config: Config) -> None:
        self.config = config
        self.task: DemoTask = config.task.build()

    def write(self, out: str | Path) -> dict[str, Any]:
        """Write the dataset folder ``out`` (see the module docstring); return its ``dataset_info``."""
        out = Path(out)
        check_replaceable(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
        try:
            staging.chmod(0o755)  # mkdtemp makes it 0700; the dataset is an ordinary shared folder
            info = self._write_into(staging)
            replace_directory(staging, out)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return info

    def _write_into(self, directory: Path) -> dict[str, Any]:
        cfg = self.config
        corpus_problems = self.task.problems(seed=0, split="tokenizer", num=cfg.tokenizer.corpus_rows)
        tokenizer = train_tokenizer(tokenizer_corpus(corpus_problems), cfg.tokenizer)
        spec = save_processor(directory / "processor", tokenizer, cfg.task.image_size)
        splits = {}
        for split, num in zip(SPLITS, (cfg.num_train, cfg.num_test), strict=True):
            rows = list(self.task.rows(cfg.seed, split, num))
            write_parquet(rows, directory / f"{split}.parquet")
            splits[split] = split_summary(rows)
        info = dataset_info(cfg, spec, splits)
        (directory / "dataset_info.json").write_text(json.dumps(info, indent=2) + "\n")
        (directory / "README.md").write_text(readme_text(info))
        return info


def write_parquet(rows: list[dict[str, Any]], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    # The schema carries datasets' metadata (``huggingface`` key): load_dataset restores the Image feature.
    table = pa.Table.from_pylist(rows, schema=features().arrow_schema)
    pq.write_table(table, path, row_group_size=ROW_GROUP_SIZE)


def split_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    by_type = collections.Counter(r["question_type"] for r in rows)
    by_difficulty = collections.Counter(r["difficulty"] for r in rows)
    return {
        "num_rows": len(rows),
        "question_types": dict(sorted(by_type.items())),
        "difficulties": {str(k): v for k, v in sorted(by_difficulty.items())},
        "multiple_choice": sum(bool(r["choices"]) for r in rows),
    }


def dataset_info(cfg: DemoDataset.Config, spec: ProcessorSpec, splits: dict[str, Any]) -> dict[str, Any]:
    return {
        "generator": GENERATOR,
        "config": cfg.to_dict(),
        "instruction": MM_UPT_INSTRUCTION,
        "processor": spec.to_dict(),
        "splits": splits,
        "features": features().to_dict(),
    }


def check_replaceable(out: Path) -> None:
    """Refuse to replace anything but an empty folder or a previous demo dataset."""
    atomic.check_replaceable(
        out, entries=OUTPUT_ENTRIES, marker="dataset_info.json", generator=GENERATOR, what="a demo dataset"
    )
