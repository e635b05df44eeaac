"""Answer latency on the dev questions, and how much of it is llama.cpp's own time.

For each question: time to first token and total time through the answer API, the
prompt's tokens, then the same grounding check and the same answer prompt sent straight
to llama.cpp (same passages, same number of output tokens). The ratio end-to-end /
llama.cpp shows what the pipeline adds (target <= 1.1). Before each measurement the model
forgets the prompts it read and kept, so both start cold. llama.cpp is sent one answer: a
question the pipeline answers twice (its first answer repeated itself or cited nothing)
shows a higher ratio, and that second answer is part of what the pipeline adds.

    python bench/answer.py [--limit 10] [--set eval/dev.jsonl]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
from pathlib import Path

from rag.answer import get_pipeline
from rag.config import load_settings
from rag.evaluation import load_question_set
from rag.prompts import answer_messages


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", type=Path, default=Path("eval/dev.jsonl"))
    parser.add_argument("--limit", type=int, default=10)
    args = parser.parse_args()
    settings = load_settings()
    pipeline = get_pipeline(settings)
    llm = pipeline.llm

    questions = [q for q in load_question_set(args.set) if not q.history][: args.limit]
    rows = []
    print(f"{'id':8} {'ttft s':>7} {'total s':>8} {'prompt tok':>10} {'out tok':>8} {'llama s':>8} {'ratio':>6}")
    for q in questions:
        llm.forget_prompts()
        answer = pipeline.answer(q.question)
        prompts = pipeline.prompts(answer.lang)
        given = list(answer.retrieved[: answer.passages_given])
        llm.forget_prompts()
        started = time.perf_counter()
        llm.yes_probability(
            answer_messages(prompts, given, answer.standalone_question, prompts.grounding), prompts.yes, prompts.no
        )
        out_tokens = 0
        if not answer.abstained:
            out_tokens = llm.count_tokens(answer.text)
            messages = answer_messages(prompts, given, answer.standalone_question, prompts.answer)
            llm.chat(messages, max(1, out_tokens), settings.temperature, settings.seed)
        own = time.perf_counter() - started
        row = {
            "id": q.id,
            "ttft": answer.timings["first_token_s"],
            "total": answer.timings["total_s"],
            "prompt": answer.prompt_tokens,
            "out": out_tokens,
            "own": own,
            "ratio": answer.timings["total_s"] / own,
        }
        rows.append(row)
        print(
            f"{q.id:8} {row['ttft']:7.2f} {row['total']:8.2f} {row['prompt']:10d} {out_tokens:8d} {own:8.2f}"
            f" {row['ratio']:6.2f}"
        )
    for key, label in (("ttft", "time to first token"), ("total", "total time"), ("prompt", "prompt tokens")):
        values = [r[key] for r in rows]
        print(f"{label:22} p50 {percentile(values, 0.5):7.2f}  p95 {percentile(values, 0.95):7.2f}")
    print(
        f"{'end-to-end / llama.cpp':22} median {statistics.median(r['ratio'] for r in rows):.2f}"
        f" (n={len(rows)}; target <= 1.1)"
    )
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
