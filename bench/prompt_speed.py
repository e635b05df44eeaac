"""How fast llama.cpp reads a prompt, with the project's loader options and with others.

The time to first token is almost all prompt reading (bench/answer.py: end-to-end /
llama.cpp about 1.05), so this is the figure that decides it. Each variant loads the model
afresh and reads the same prompt of `--tokens` tokens (article text) `--repeat` times from
an empty cache; it prints tokens per second. The variants are llama.cpp's options that can
speed up prompt reading on a CPU: flash attention, the batch size, an 8-bit KV cache, and,
with `--requantize`, the model requantized to Q4_0 and Q8_0 in a temporary folder (about
3 GB of disk while it runs).

    python bench/prompt_speed.py [--tokens 900] [--repeat 3] [--requantize]
"""

from __future__ import annotations

import argparse
import ctypes
import statistics
import tempfile
import time
from pathlib import Path

from rag.config import load_settings
from rag.llm import model_path
from rag.openmp import llama_settings, runtime_env

VARIANTS: dict[str, dict] = {
    "project's options": {},
    "flash attention": {"flash_attn": True},
    "batch 256": {"n_batch": 256, "n_ubatch": 256},
    "batch 1024": {"n_batch": 1024, "n_ubatch": 1024},
    "flash attention, 8-bit KV cache": {"flash_attn": True, "type_k": 8, "type_v": 8},
}


def prompt_tokens(llama, content: Path, count: int) -> list[int]:
    text = "\n\n".join(path.read_text(encoding="utf-8") for path in sorted(content.rglob("*.md")))
    tokens = llama.tokenize(text.encode("utf-8"))[:count]
    if len(tokens) < count:
        raise SystemExit(f"{content} holds only {len(tokens)} tokens of text")
    return tokens


def read_speed(path: Path, options: dict, content: Path, count: int, repeat: int, threads: int) -> list[float]:
    with runtime_env(llama_settings()):
        from llama_cpp import Llama

    llama = Llama(
        model_path=str(path), n_ctx=4096, n_threads=threads, n_threads_batch=threads, verbose=False, **options
    )
    tokens = prompt_tokens(llama, content, count)
    speeds = []
    for _ in range(repeat):
        llama.reset()
        started = time.perf_counter()
        llama.eval(tokens)
        speeds.append(count / (time.perf_counter() - started))
    llama.close()
    return speeds


def requantize(source: Path, folder: Path, name: str) -> Path:
    with runtime_env(llama_settings()):
        import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{name.upper()}")
    params.allow_requantize = True
    target = folder / f"{source.stem}-{name}.gguf"
    if llama_cpp.llama_model_quantize(str(source).encode(), str(target).encode(), ctypes.byref(params)) != 0:
        raise SystemExit(f"llama.cpp could not requantize {source} to {name}")
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=900, help="prompt length (the dev answer prompts' median)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--requantize", action="store_true", help="also try Q4_0 and Q8_0 copies of the model")
    args = parser.parse_args()
    settings = load_settings()
    path = model_path(settings)
    print(f"model {path.name}, {settings.llm_threads} threads, prompt of {args.tokens} tokens")
    print(f"{'variant':36} {'tokens/s (median)':>18}  runs")

    def report(label: str, speeds: list[float]) -> None:
        runs = " ".join(f"{s:.1f}" for s in speeds)
        print(f"{label:36} {statistics.median(speeds):18.1f}  {runs}")

    for label, options in VARIANTS.items():
        report(label, read_speed(path, options, settings.content_dir, args.tokens, args.repeat, settings.llm_threads))
    if args.requantize:
        with tempfile.TemporaryDirectory() as folder:
            for name in ("q4_0", "q8_0"):
                copy = requantize(path, Path(folder), name)
                speeds = read_speed(copy, {}, settings.content_dir, args.tokens, args.repeat, settings.llm_threads)
                report(f"requantized to {name.upper()}", speeds)
                copy.unlink()


if __name__ == "__main__":
    main()
