"""The demo task: procedurally rendered visual math problems for the tiny Qwen2.5-VL demo model.

Issue "Data", items 7 and 8: a task a very small model learns on CPU, yet not trivially, so that sampling
at temperature 1 scores clearly below majority-of-8 (the gap MM-UPT's vote reward feeds on); and a
tokenizer/processor for the model, in HF format.

Files, in data-flow order:
  scene.py            what an image shows (shapes, numbers, a labelled rectangle), as plain data
  render.py           scene -> PIL image -> PNG bytes
  problem.py          Problem (scene, question, answer, solution) and the QUESTION_TYPES registry
  shape_questions.py  count, compare
  number_questions.py add
  rectangle_questions.py  perimeter, area
  choice.py           multiple-choice variant of count
  generator.py        DemoTask: deterministic problems and rows by (seed, split, index)
  tokenizer.py        byte-level BPE with Qwen2.5-VL's added tokens and chat template
  processor.py        the processor folder (tokenizer + image processor) and its ProcessorSpec
  dataset.py          DemoDataset: writes train/test parquet + processor + README atomically
  readme.py           the dataset's README.md

Use ``megatron-mmupt demo-data --out DIR`` or ``DemoDataset.Config(...).build().write(DIR)``.
"""

from megatron_mmupt.demo.task.dataset import DemoDataset, features
from megatron_mmupt.demo.task.generator import QUESTION_TYPE_NAMES, DemoTask
from megatron_mmupt.demo.task.problem import DIFFICULTIES, QUESTION_TYPES, Problem
from megatron_mmupt.demo.task.processor import ProcessorSpec, load_processor_parts, save_processor
from megatron_mmupt.demo.task.tokenizer import MM_UPT_INSTRUCTION, TokenizerConfig, train_tokenizer

__all__ = [
    "DIFFICULTIES",
    "MM_UPT_INSTRUCTION",
    "QUESTION_TYPES",
    "QUESTION_TYPE_NAMES",
    "DemoDataset",
    "DemoTask",
    "Problem",
    "ProcessorSpec",
    "TokenizerConfig",
    "features",
    "load_processor_parts",
    "save_processor",
    "train_tokenizer",
]
