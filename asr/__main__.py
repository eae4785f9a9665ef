"""``python -m asr``: the ``asr`` command, also for launchers that need a module (``torchrun -m asr transcribe ...``)."""

import sys

from asr.cli import main

sys.exit(main())
