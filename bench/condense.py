"""Follow-ups rewritten into standalone questions, with one or more prompt folders.

A follow-up is only as good as its standalone question: retrieval, the grounding check and
the answer all read it. Each follow-up of the sets is condensed with each prompt folder's
prompts, then retrieved; with `--answer`, answered by the whole pipeline and scored as
`rag eval` scores it. Printed: the standalone question, whether the evidence is in the top
5 passages, and whether the answer is right.

The sets' histories have written assistant turns that name what a follow-up refers to; the
chatbot's own answers may not. `--runs` adds, for each follow-up of a `rag eval
--own-history` run, the history that run recorded, so its earlier answers need not be
generated again.

    python bench/condense.py [--set eval/dev.jsonl eval/extra.jsonl eval/followups.jsonl]
        [--runs runs/own [--only-runs]] [--prompts prompts other-prompts/] [--answer]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from rag.answer import RETRIEVED_FOR_REPORT, get_pipeline, retrieved_json
from rag.config import load_settings
from rag.evaluation import RetrievedText, load_question_set, read_results, retrieval_hit, score_item
from rag.language import detect_language
from rag.prompts import load_prompts


def own_histories(run: Path) -> dict[str, list[dict[str, str]]]:
    return {item["id"]: item["history"] for item in read_results(run / "results.jsonl") if item.get("history")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--set",
        type=Path,
        nargs="+",
        default=[Path("eval/dev.jsonl"), Path("eval/extra.jsonl"), Path("eval/followups.jsonl")],
    )
    parser.add_argument("--runs", type=Path, nargs="*", default=[], help="`rag eval --own-history` runs")
    parser.add_argument("--only-runs", action="store_true", help="leave out the sets' written histories")
    parser.add_argument("--prompts", type=Path, nargs="+", default=[Path("prompts")], help="prompt folders")
    parser.add_argument("--answer", action="store_true", help="answer each follow-up too, and score it")
    args = parser.parse_args()

    pipeline = get_pipeline(load_settings())
    followups = [q for path in args.set for q in load_question_set(path) if q.history]
    cases = [] if args.only_runs else [(q.id, q, list(q.history)) for q in followups]
    by_id = {q.id: q for q in followups}
    for run in args.runs:
        for id_, history in own_histories(run).items():
            if id_ in by_id:
                cases.append((f"{id_}/own", by_id[id_], history))

    totals = {}
    for folder in args.prompts:
        folder = folder.resolve()
        pipeline.prompts = lambda lang, folder=folder: load_prompts(folder, lang)
        hits, right, seconds = 0, 0, []
        print(f"\n== {folder}")
        for name, q, history in cases:
            started, correct = time.perf_counter(), False
            if args.answer:
                result = pipeline.answer(q.question, history).to_json()
                result["answer_lang"] = detect_language(result["answer"], default="")
                standalone, retrieved = result["standalone_question"], result["retrieved"]
                correct = score_item(q, result, retrieval_only=False)["correct"]
                right += correct
            else:
                prompts = pipeline.prompts(detect_language(q.question, default=q.lang))
                turns = pipeline._check_history(history)
                standalone, queries = pipeline.standalone_question(prompts, turns, q.question)
                passages = pipeline.retriever.search(queries, RETRIEVED_FOR_REPORT, lang=prompts.lang)
                retrieved = [retrieved_json(rank, p) for rank, p in enumerate(passages, 1)]
            seconds.append(time.perf_counter() - started)
            texts = [RetrievedText(r["doc_id"], r["position"], r["start"], r["end"], r["text"]) for r in retrieved]
            hit = retrieval_hit(q.evidence, texts, 5)
            hits += hit
            verdict = f"  {'right' if correct else 'WRONG'}" if args.answer else ""
            print(f"{name:16} hit@5={'yes' if hit else 'NO '}{verdict}  {standalone}")
            if args.answer:
                print(f"{'':16} -> {result['answer'][:160]}")
        totals[folder] = (hits, right, statistics.median(seconds))
    print(f"\n{len(cases)} follow-ups")
    print(f"{'prompts':40} {'hit@5':>6} {'right':>6} {'seconds p50':>12}")
    for folder, (hits, right, median) in totals.items():
        print(f"{str(folder)[-40:]:40} {hits:>6} {right if args.answer else '-':>6} {median:>12.1f}")


if __name__ == "__main__":
    main()
