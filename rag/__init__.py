"""Local-first bilingual question answering over the Social Good Accelerator articles."""

import os

# OpenMP runtimes read this once, when they start: an encoder whose idle threads spin
# would steal the cores the language model needs, so idle threads must sleep.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
