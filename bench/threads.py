"""The encoder and llama.cpp on the same 2 cores: does either slow the other?

Both are loaded the way the app loads them (`load_embedder`, `load_llm`), so whatever
OpenMP wait policy the project gives each one is what is measured. It prints:

- the encoder's query time alone, and while another process keeps one core busy
  (spinning OpenMP threads collapse then: the foundation issue saw 17 ms -> 1.7 s);
- llama.cpp's prompt reading and generation speed alone;
- generation while the encoder embeds a sentence every 8 tokens, as the answer's
  sentence citations do (llama.cpp's time only, the encoder's calls excluded);
- generation while another process keeps one core busy.

    python bench/threads.py [--repeat 3] [--tokens 64]
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import time
from pathlib import Path

from rag.config import load_settings
from rag.embeddings import load_embedder
from rag.llm import load_llm, model_path
from rag.openmp import encoder_settings, llama_settings

PROMPT_FILE = Path(__file__).resolve().parent.parent / "content" / "fr" / "orange-digital-center.md"
SENTENCE = "Les Orange Digital Center proposent des formations gratuites au code et à l'entrepreneuriat."


def busy_core(stop: multiprocessing.synchronize.Event) -> None:
    while not stop.is_set():
        pass


class OtherProcessBusy:
    """Another process spinning on one core, as a second app or an index run would."""

    def __enter__(self) -> OtherProcessBusy:
        self.stop = multiprocessing.Event()
        self.process = multiprocessing.Process(target=busy_core, args=(self.stop,), daemon=True)
        self.process.start()
        time.sleep(0.5)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.process.join()


def encode_ms(embedder, repeat: int = 20) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        embedder.embed_query(SENTENCE)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def generation(llama, tokens: list[int], n_out: int, encode_every: int = 0, embedder=None) -> tuple[float, float]:
    """(prompt tokens/s, generated tokens/s), counting llama.cpp's own time only."""
    llama.reset()
    started = time.perf_counter()
    llama.eval(tokens)
    prompt_rate = len(tokens) / (time.perf_counter() - started)
    llama_time, produced = 0.0, 0
    started = time.perf_counter()
    for _ in llama.generate(tokens, temp=0.0):
        llama_time += time.perf_counter() - started
        produced += 1
        if produced >= n_out:
            break
        if encode_every and produced % encode_every == 0:
            embedder.embed_query(SENTENCE)
        started = time.perf_counter()
    return prompt_rate, produced / llama_time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement (median printed)")
    parser.add_argument("--tokens", type=int, default=64, help="tokens generated per run")
    args = parser.parse_args()
    settings = load_settings()
    embedder = load_embedder(settings.embedding_model, settings.threads, settings.embedding_batch_size)
    llm = load_llm(settings)
    llama = llm._llama
    text = PROMPT_FILE.read_text(encoding="utf-8")[:3600]
    tokens = llama.tokenize(text.encode("utf-8"), add_bos=True)
    print(f"model {model_path(settings).name}, {len(tokens)}-token prompt, {args.tokens} tokens out, 2 threads each")
    print(f"encoder's OpenMP settings: {encoder_settings(settings.threads)}; llama.cpp's: {llama_settings()}")

    def median_of(measure):
        runs = [measure() for _ in range(args.repeat)]
        return tuple(statistics.median(r[i] for r in runs) for i in range(len(runs[0])))

    def row(label: str, figures: str) -> None:
        print(f"{label:44} {figures}")

    encode_ms(embedder, 5)
    row("encoder query, alone", f"{encode_ms(embedder):6.1f} ms")
    with OtherProcessBusy():
        row("encoder query, another process busy", f"{encode_ms(embedder):6.1f} ms")
    prompt_rate, gen_rate = median_of(lambda: generation(llama, tokens, args.tokens))
    row("llama.cpp alone", f"prompt {prompt_rate:5.1f} tok/s, generation {gen_rate:5.1f} tok/s")
    _, gen_rate = median_of(lambda: generation(llama, tokens, args.tokens, 8, embedder))
    row("llama.cpp, the encoder every 8 tokens", f"{'':24}generation {gen_rate:5.1f} tok/s")
    with OtherProcessBusy():
        prompt_rate, gen_rate = median_of(lambda: generation(llama, tokens, args.tokens))
    row("llama.cpp, another process busy", f"prompt {prompt_rate:5.1f} tok/s, generation {gen_rate:5.1f} tok/s")


if __name__ == "__main__":
    main()
