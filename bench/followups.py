"""Follow-up questions read whole, with the kept prompt states (rag.llm.PromptStates), and
with llama-cpp-python's own LlamaRAMCache.

For each follow-up of the question sets, the conversation is replayed: its first
question is asked, then the follow-up with the set's history. The follow-up is measured
in each mode: the tokens llama.cpp read (a count, so this machine's speed does not blur
it), the time to the first token, the time spent choosing, keeping and restoring states,
the process's resident memory afterwards, and whether the answer is the one of the whole
read.

    python bench/followups.py [--set eval/dev.jsonl eval/extra.jsonl] [--modes whole states ramcache]
        [--ids dev-033 ...]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from rag.answer import get_pipeline
from rag.config import load_settings
from rag.evaluation import load_question_set

MODES = ("whole", "states", "ramcache")


def resident_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", type=Path, nargs="+", default=[Path("eval/dev.jsonl"), Path("eval/extra.jsonl")])
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--ids", nargs="+", help="only these follow-ups")
    parser.add_argument("--ramcache-mb", type=int, default=512, help="LlamaRAMCache's capacity_bytes, in MB")
    args = parser.parse_args()
    from llama_cpp import LlamaRAMCache

    pipeline = get_pipeline(load_settings())
    llm = pipeline.llm
    llama, states = llm._llama, llm._states
    read = [0]
    evaluate = llama.eval

    def counting(tokens):
        read[0] += len(tokens)
        return evaluate(tokens)

    llama.eval = counting
    prepared = [0.0]
    prepare = states.prepare

    def timed(messages):
        started = time.perf_counter()
        try:
            return prepare(messages)
        finally:
            prepared[0] += time.perf_counter() - started

    states.prepare = timed
    questions = [q for path in args.set for q in load_question_set(path)]
    followups = [q for q in questions if q.history and (not args.ids or q.id in args.ids)]
    totals: dict[str, list[tuple[int, float, float, float, bool]]] = {mode: [] for mode in args.modes}
    print(
        f"{'id':10} {'mode':9} {'tokens read':>12} {'first token s':>14} {'states s':>10} {'RSS MB':>8}"
        "  same answer as whole"
    )
    for q in followups:
        first = next(turn["content"] for turn in q.history if turn["role"] == "user")
        reference = None
        for mode in args.modes:
            llm._states = states if mode == "states" else None
            llm.forget_prompts()
            llama.set_cache(LlamaRAMCache(capacity_bytes=args.ramcache_mb << 20) if mode == "ramcache" else None)
            pipeline.answer(first)
            read[0], prepared[0] = 0, 0.0
            answer = pipeline.answer(q.question, q.history)
            reference = answer.text if reference is None else reference
            row = (read[0], answer.timings["first_token_s"], prepared[0], resident_mb(), answer.text == reference)
            totals[mode].append(row)
            print(f"{q.id:10} {mode:9} {row[0]:12d} {row[1]:14.2f} {row[2]:10.3f} {row[3]:8.0f}  {row[4]}", flush=True)
            llama.set_cache(None)
    llm._states = states
    for mode, rows in totals.items():
        reads, ttfts, spent, rss, same = zip(*rows, strict=True)
        print(
            f"{mode:9} tokens read {sum(reads):6d}, first token median {statistics.median(ttfts):5.2f} s,"
            f" in the states {sum(spent):.3f} s,"
            f" RSS max {max(rss):6.0f} MB, same answers {sum(same)}/{len(same)}"
        )


if __name__ == "__main__":
    main()
