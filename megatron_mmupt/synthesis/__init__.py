"""Self-synthesized training questions (MM-UPT's second data source): the model writes questions about
a seed dataset's images, filters keep the ones it can answer consistently, and ``train`` reads the result.

Files, in data-flow order:
  templates.py    the writer prompts (in-context: image + its question; direct: image only)
  parse.py        a response -> a question (stem and options) or the reason it is not one
  filters.py      truncated, unparseable, length, copy, duplicate, not answerable by the model's consensus
  synthesizer.py  SynthesisConfig and the run: write, filter, vote, keep
  output.py       the dataset folder (train.parquet in the generic schema, summary), written atomically
"""

from megatron_mmupt.synthesis.filters import FilterConfig, Rejection
from megatron_mmupt.synthesis.parse import Unparseable, WrittenQuestion, parse_question
from megatron_mmupt.synthesis.synthesizer import SynthesisConfig, Synthesizer, summary_table, synthesize
from megatron_mmupt.synthesis.templates import METHODS, QuestionWriterPrompt, TemplatesConfig

__all__ = [
    "METHODS",
    "FilterConfig",
    "QuestionWriterPrompt",
    "Rejection",
    "SynthesisConfig",
    "Synthesizer",
    "TemplatesConfig",
    "Unparseable",
    "WrittenQuestion",
    "parse_question",
    "summary_table",
    "synthesize",
]
