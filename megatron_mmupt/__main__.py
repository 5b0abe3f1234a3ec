"""``python -m megatron_mmupt ...``: the ``megatron-mmupt`` console script (same commands, output and exit codes)."""

import sys

from megatron_mmupt.cli import main

if __name__ == "__main__":
    sys.exit(main())
