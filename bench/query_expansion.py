"""Does expanding the question into the other language help retrieval? hit@k with and without.

The default model translates each answerable question of the set into the other
language; dense search runs on both, their rankings are fused by reciprocal rank fusion,
and twins collapse as in the product. Prints hit@1/3/5 overall, by language and by kind
for dense search alone, the fused search, and the translation alone, with the time one
translation adds before retrieval.

    python bench/query_expansion.py [--set eval/dev.jsonl]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
import tomllib
from collections import defaultdict
from pathlib import Path

from rag.config import load_settings
from rag.embeddings import load_embedder
from rag.evaluation import RetrievedText, evidence_found, load_question_set, retrieval_query
from rag.indexer import sync
from rag.language import detect_language
from rag.llm import load_llm
from rag.retrieval import CANDIDATES, Passage, RetrievalOptions, Retriever, reciprocal_rank_fusion
from rag.store import open_store

KS = (1, 3, 5)
GROUPS = ("all", "fr", "en", "cross", "fact", "multi", "followup")
PROMPTS = tomllib.loads((Path(__file__).with_suffix(".toml")).read_text(encoding="utf-8"))


def fused_search(retriever: Retriever, queries: list[str], lang: str, k: int) -> list[Passage]:
    dense = [retriever.store.query(retriever.embedder.embed_query(q), CANDIDATES) for q in queries]
    by_id = {stored.chunk_id: stored for ranking in dense for stored, _ in ranking}
    rankings = [[stored.chunk_id for stored, _ in ranking] for ranking in dense]
    fused = reciprocal_rank_fusion(rankings, [1.0] * len(rankings))
    ordered = [Passage.from_stored(by_id[cid], fused[cid]) for cid in sorted(fused, key=lambda cid: -fused[cid])]
    return retriever.collapse_twins(ordered[: 3 * k], lang)[:k]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", type=Path, default=Path("eval/dev.jsonl"))
    args = parser.parse_args()
    questions = [q for q in load_question_set(args.set) if q.evidence]
    with tempfile.TemporaryDirectory() as tmp:
        settings = dataclasses.replace(load_settings(), store_dir=Path(tmp))
        embedder = load_embedder(settings.embedding_model, settings.threads, settings.embedding_batch_size)
        sync(settings, embedder=embedder)
        retriever = Retriever(open_store(settings, embedder.model_id, embedder.dimension), embedder, RetrievalOptions())
        llm = load_llm(settings)
        hits: dict[tuple[str, str], dict[int, list[bool]]] = defaultdict(lambda: defaultdict(list))
        translate_s = []
        for q in questions:
            text, lang = retrieval_query(q), detect_language(q.question)
            started = time.perf_counter()
            reply = llm.chat([{"role": "user", "content": PROMPTS[lang].format(question=text)}], 80)
            translate_s.append(time.perf_counter() - started)
            translation = (reply.strip().splitlines() or [text])[0]
            variants = {
                "dense": fused_search(retriever, [text], lang, 5),
                "dense + translation": fused_search(retriever, [text, translation], lang, 5),
                "translation only": fused_search(retriever, [translation], lang, 5),
            }
            for name, passages in variants.items():
                retrieved = [RetrievedText(p.doc_id, p.position, p.start, p.end, p.text) for p in passages]
                for k in KS:
                    hit = any(evidence_found(q.evidence, retrieved, k))
                    for group in ("all", q.lang, q.kind):
                        hits[(name, group)][k].append(hit)
    print(f"set {args.set}, {len(questions)} answerable questions; twins collapsed; model {llm.name}")
    print(f"one translation: p50 {statistics.median(translate_s):.2f} s, max {max(translate_s):.2f} s")
    print(f"{'variant':22} {'k':>2} " + " ".join(f"{g:>8}" for g in GROUPS))
    for name in ("dense", "dense + translation", "translation only"):
        for k in KS:
            cells = []
            for group in GROUPS:
                values = hits.get((name, group), {}).get(k, [])
                cells.append(f"{sum(values) / len(values):8.2f}" if values else f"{'-':>8}")
            print(f"{name if k == 1 else '':22} {k:>2} " + " ".join(cells))


if __name__ == "__main__":
    main()
