import pytest

from megatron_mmupt.demo.task import DemoTask, TokenizerConfig, save_processor, train_tokenizer
from megatron_mmupt.demo.task.tokenizer import tokenizer_corpus

# A small corpus trains the same tokenizer faster: the templated corpus saturates BPE within 300 problems.
CORPUS_ROWS = 300


@pytest.fixture(scope="session")
def task():
    return DemoTask.Config().build()


@pytest.fixture(scope="session")
def tokenizer(task):
    corpus = tokenizer_corpus(task.problems(seed=0, split="tokenizer", num=CORPUS_ROWS))
    return train_tokenizer(corpus, TokenizerConfig(corpus_rows=CORPUS_ROWS))


@pytest.fixture(scope="session")
def processor_dir(tokenizer, task, tmp_path_factory):
    directory = tmp_path_factory.mktemp("processor")
    spec = save_processor(directory, tokenizer, task.config.image_size)
    return directory, spec
