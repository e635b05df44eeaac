"""Retrieval latency and memory as the store grows: 1k, 10k and 100k chunks.

Synthetic chunks are drawn from the articles' sentences (4 to 8 each). Embedding 100k
chunks with the real encoder would take hours here, so each sentence is embedded once
with it and a chunk's vector is the normalised mean of its sentences' vectors: the
same kind of vectors as the real ones, at the real dimension. The store is a real
Chroma collection on disk, and BM25 is built from the store as the app does.

Reports per size: build time (Chroma insert, BM25 index), retrieval p50/p95 for dense,
BM25 and fused search, and the process's memory. Target: fused p50 <= 50 ms at 100k.

    python bench/retrieval_scale.py [--sizes 1000 10000 100000] [--queries 50]
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import re
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from rag.chunking import Chunk
from rag.config import load_settings
from rag.documents import load_documents
from rag.embeddings import load_embedder
from rag.evaluation import load_question_set
from rag.retrieval import RetrievalOptions, Retriever
from rag.store import chunk_metadata, open_store


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentiles(values: list[float]) -> str:
    """p50/p95 in milliseconds."""
    ordered = sorted(values)
    p50, p95 = ordered[len(ordered) // 2] * 1000, ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] * 1000
    return f"{p50:.1f}/{p95:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", type=int, default=[1000, 10000, 100000])
    parser.add_argument("--queries", type=int, default=50)
    args = parser.parse_args()
    settings = load_settings()
    embedder = load_embedder(settings.embedding_model, settings.threads, settings.embedding_batch_size)
    documents, _ = load_documents(settings.content_dir)
    sentences = sorted(
        {
            (doc.lang, s.strip())
            for doc in documents
            for s in re.split(r"(?<=[.!?])\s+", doc.text)
            if len(s.strip()) > 40
        }
    )
    started = time.perf_counter()
    vectors = embedder.embed_documents([s for _, s in sentences])
    print(
        f"{len(sentences)} sentences embedded in {time.perf_counter() - started:.0f} s; questions from eval/dev.jsonl"
    )
    questions = [q.question for q in load_question_set(Path("eval/dev.jsonl"))]
    rng = random.Random(3)
    query_texts = [rng.choice(questions) for _ in range(args.queries)]
    started = time.perf_counter()
    query_vectors = {text: embedder.embed_query(text) for text in set(query_texts)}
    embed_ms = (time.perf_counter() - started) * 1000 / len(query_vectors)
    print(f"embedding a question takes {embed_ms:.0f} ms; it comes on top of the figures below")

    print(
        f"{'chunks':>8} {'insert s':>9} {'bm25 s':>7} | {'dense p50/p95 ms':>17} {'bm25 p50/p95':>14}"
        f" {'fused p50/p95':>14} | {'RSS MB':>7}"
    )
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            run = dataclasses.replace(settings, store_dir=Path(tmp))
            store = open_store(run, embedder.model_id, embedder.dimension, create=True)
            started = time.perf_counter()
            for begin in range(0, size, 1000):
                chunks, batch = [], []
                for i in range(begin, min(size, begin + 1000)):
                    picks = rng.sample(range(len(sentences)), rng.randint(4, 8))
                    lang = sentences[picks[0]][0]
                    text = " ".join(sentences[p][1] for p in picks)
                    vector = vectors[picks].mean(axis=0)
                    batch.append(vector / np.linalg.norm(vector))
                    chunks.append(
                        Chunk(
                            f"syn/{i // 20}#{i}",
                            f"{lang}/syn-{i // 20}",
                            f"syn-{i // 20}",
                            lang,
                            f"Synthetic {i // 20}",
                            "",
                            "",
                            i % 20,
                            0,
                            len(text),
                            text,
                        )
                    )
                store.collection.upsert(
                    ids=[c.chunk_id for c in chunks],
                    embeddings=np.array(batch, dtype=np.float32),
                    documents=[c.text for c in chunks],
                    metadatas=[chunk_metadata(c, "h") for c in chunks],
                )
            insert_s = time.perf_counter() - started
            store.touch()
            cached = _Cached(query_vectors)
            retrievers = {
                "dense": Retriever(store, cached, RetrievalOptions(bm25=False, collapse_twins=False)),
                "fused": Retriever(store, cached, RetrievalOptions(bm25=True, collapse_twins=True)),
            }
            started = time.perf_counter()
            lexical = retrievers["fused"].lexical_index()
            bm25_s = time.perf_counter() - started
            timings: dict[str, list[float]] = {"dense": [], "bm25": [], "fused": []}
            for text in query_texts:
                for name in ("dense", "fused"):
                    started = time.perf_counter()
                    retrievers[name].search(text, 5, lang="fr")
                    timings[name].append(time.perf_counter() - started)
                started = time.perf_counter()
                lexical.search(text, 30)
                timings["bm25"].append(time.perf_counter() - started)
            cells = " ".join(f"{percentiles(timings[n]):>14}" for n in ("bm25", "fused"))
            print(
                f"{size:>8} {insert_s:>9.1f} {bm25_s:>7.1f} | {percentiles(timings['dense']):>17}"
                f" {cells} | {rss_mb():>7.0f}"
            )


class _Cached:
    """The query vectors are computed once up front, so the timings are the store's and BM25's alone."""

    def __init__(self, vectors: dict[str, np.ndarray]) -> None:
        self._vectors = vectors

    def embed_query(self, text: str) -> np.ndarray:
        return self._vectors[text]


if __name__ == "__main__":
    main()
