"""Local-first bilingual question answering over the Social Good Accelerator articles."""

__version__ = "0.1.0"
