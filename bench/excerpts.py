"""How much of the retrieved passages the model would read as excerpts, and how much evidence survives the cut.

Reading the prompt is most of the time to the first token (about 94 tokens/s here), so
one way to answer sooner is to give the model only the sentences of each passage that
speak to the question. For every answerable question of the given sets, this takes the
top-k passages the app gives the model and cuts each one to: its best sentence, every
sentence within a margin of the best sentence of all the passages, and the sentence after
each kept one (with ``both``, the one before too); a gap reads " … ". It prints, per
strategy, how many questions still have an evidence string inside what the model would
read, and the median and mean characters read. Uses the project's store (`rag index`).

    python bench/excerpts.py eval/dev.jsonl eval/extra.jsonl eval/followups.jsonl [--k 5]
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rag.chunking import SHORT_SENTENCE, sentence_spans
from rag.config import load_settings
from rag.embeddings import load_embedder
from rag.evaluation import load_question_set, normalize, retrieval_query
from rag.language import detect_language
from rag.retrieval import Passage, Retriever
from rag.store import open_store

STRATEGIES = {
    "full": None,
    "margin 0.03, next": (0.03, False),
    "margin 0.05, next": (0.05, False),
    "margin 0.03, both": (0.03, True),
    "margin 0.00, next": (0.0, False),
}
PASSAGE_MARGINS = (0.02, 0.04, 0.06, 0.08, 0.10)


def sentence_scores(retriever: Retriever, passages: Sequence[Passage], query: str) -> dict[str, np.ndarray]:
    """Each passage's sentences' cosines with the query."""
    query_vector = retriever.embedder.embed_query(query)
    return {cid: vectors @ query_vector for cid, vectors in retriever.sentence_vectors(passages).items()}


def passages_near_the_best(passages: Sequence[Passage], scores: dict[str, np.ndarray], margin: float) -> list[str]:
    """Whole passages whose best sentence is within ``margin`` of the best sentence of all."""
    best = max(float(s.max()) for s in scores.values())
    return [p.text for p in passages if float(scores[p.chunk_id].max()) >= best - margin]


def excerpts(passages: Sequence[Passage], scores: dict[str, np.ndarray], margin: float, both: bool) -> list[str]:
    """What the model would read of each passage."""
    best = max(float(s.max()) for s in scores.values())
    cut = []
    for passage in passages:
        spans = sentence_spans(passage.text)
        scored = [i for i, (a, b) in enumerate(spans) if len(passage.text[a:b].strip()) > SHORT_SENTENCE]
        own = scores[passage.chunk_id]
        if len(scored) != len(own):
            cut.append(passage.text)
            continue
        keep = {scored[int(np.argmax(own))]} | {i for i, s in zip(scored, own, strict=True) if s >= best - margin}
        keep |= {i + d for i in keep for d in ((1, -1) if both else (1,)) if 0 <= i + d < len(spans)}
        cut.append(join_spans(passage.text, [spans[i] for i in sorted(keep)]))
    return cut


def join_spans(text: str, spans: Sequence[tuple[int, int]]) -> str:
    """The spans' text in order; neighbours stay as written, a gap reads " … "."""
    runs: list[list[int]] = []
    for start, end in spans:
        if runs and text[runs[-1][1] : start].strip() == "":
            runs[-1][1] = end
        else:
            runs.append([start, end])
    return " … ".join(text[start:end].strip() for start, end in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sets", nargs="+", type=Path)
    parser.add_argument("--k", type=int, default=None, help="passages per question (default: the setting top_k)")
    args = parser.parse_args()
    settings = load_settings()
    k = args.k or settings.top_k
    embedder = load_embedder(settings.embedding_model, settings.threads, settings.embedding_batch_size)
    retriever = Retriever(open_store(settings, embedder.model_id, embedder.dimension), embedder)
    questions = [q for path in args.sets for q in load_question_set(path) if q.evidence]

    names = [*STRATEGIES, *(f"passages within {m:.2f}" for m in PASSAGE_MARGINS)]
    kept: dict[str, list[tuple[str, bool]]] = {name: [] for name in names}
    chars: dict[str, list[int]] = {name: [] for name in names}
    for q in questions:
        query = retrieval_query(q)
        passages = retriever.search(query, k, lang=detect_language(q.question))
        scores = sentence_scores(retriever, passages, query)
        for name, strategy in STRATEGIES.items():
            read = [p.text for p in passages] if strategy is None else excerpts(passages, scores, *strategy)
            pieces = [normalize(piece) for text in read for piece in text.split(" … ")]
            kept[name].append((q.id, any(normalize(e) in piece for e in q.evidence for piece in pieces)))
            chars[name].append(sum(len(text) for text in read))
        for margin in PASSAGE_MARGINS:
            read = passages_near_the_best(passages, scores, margin)
            name = f"passages within {margin:.2f}"
            kept[name].append((q.id, any(normalize(e) in normalize(text) for e in q.evidence for text in read)))
            chars[name].append(sum(len(text) for text in read))

    found_in_full = {qid for qid, found in kept["full"] if found}
    print(f"{len(questions)} answerable questions, top {k} passages")
    print(f"{'strategy':<22} {'evidence kept':>13} {'median chars':>12} {'mean chars':>10}  lost against full")
    for name in names:
        lost = [qid for qid, found in kept[name] if qid in found_in_full and not found]
        found = sum(f for _, f in kept[name])
        median, mean = statistics.median(chars[name]), statistics.mean(chars[name])
        print(f"{name:<22} {found:>6}/{len(questions):<6} {median:>12.0f} {mean:>10.0f}  {' '.join(lost)}")


if __name__ == "__main__":
    main()
