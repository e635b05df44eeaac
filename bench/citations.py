"""Which passage each answer sentence should cite, measured on recorded answers.

Reads the answers of one or more `rag eval` runs, takes the model's words back out of
each answer (without the shown markers), cites every sentence again with each way of
scoring support, and prints the citation precision each gives (the share of cited
passages that hold an evidence string, eval/README.md) and the recall (the share of
the given passages holding one that the answer cites). No model runs, so a choice is
compared on exactly the same answers. "Whole answer" methods need the finished answer,
so they could not mark sentences as they stream; they show what waiting would buy. A
second table keeps the current scoring and varies which sentences may bring a new
passage into the answer (`AsideGuard`).

    python bench/citations.py eval/dev.jsonl RUN_DIR [eval/extra.jsonl RUN_DIR2 ...]
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rag.answer import ANSWER_SO_FAR_WEIGHT, ASIDE_BAR_WORDS, SHARED_WORDS_WEIGHT
from rag.chunking import passage_sentences
from rag.citations import MARKER, AsideGuard, SentenceCiter
from rag.config import load_settings
from rag.embeddings import load_embedder
from rag.evaluation import load_question_set, normalize, read_results
from rag.language import content_words, detect_language, shared_word_shares
from rag.retrieval import Passage
from rag.store import open_store


@dataclass
class Reply:
    """One recorded answer being cited again: what a scoring method may look at."""

    passages: list[Passage]
    lang: str
    question: str
    text: str
    said: list[str] = field(default_factory=list)
    cited: list[int] = field(default_factory=list)


def passages_given(item: dict) -> list[Passage]:
    return [
        Passage(
            chunk_id=r["chunk_id"],
            doc_id=r["doc_id"],
            slug=r["doc"],
            lang=r["lang"],
            title="",
            url="",
            section="",
            position=r["position"],
            start=r["start"],
            end=r["end"],
            text=r["text"],
            score=r["score"],
        )
        for r in item["retrieved"][: item["passages_given"]]
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pairs", nargs="+", help="question set, then the run folder that answered it; repeatable")
    args = parser.parse_args()
    if len(args.pairs) % 2:
        parser.error("give a run folder after each question set")
    settings = load_settings()
    embedder = load_embedder(settings.embedding_model, settings.threads, settings.embedding_batch_size)
    store = open_store(settings)
    cache: dict[tuple[str, bool], np.ndarray] = {}

    def embed(text: str, query: bool) -> np.ndarray:
        if (text, query) not in cache:
            cache[text, query] = embedder.embed_query(text) if query else embedder.embed_documents([text])[0]
        return cache[text, query]

    def by_passage(text: str, passages: Sequence[Passage]) -> np.ndarray:
        """As the app scores support: the stored passage vectors against ``text``."""
        vectors = store.embeddings([p.chunk_id for p in passages])
        query = embed(text, True)
        return np.array([float(vectors[p.chunk_id] @ query) for p in passages])

    def by_best_sentence(text: str, passages: Sequence[Passage]) -> np.ndarray:
        query = embed(text, True)
        return np.array(
            [max(float(embed(s, False) @ query) for s in passage_sentences(p.text) or [p.text]) for p in passages]
        )

    def lexical(text: str, reply: Reply) -> np.ndarray:
        def words(t: str) -> set[str]:
            return content_words(t, reply.lang) | set(re.findall(r"\d+", t))

        mine = words(text)
        return np.array([len(mine & words(p.text)) / len(mine) if mine else 0.0 for p in reply.passages])

    def shared_words(text: str, reply: Reply) -> np.ndarray:
        """As the app: the share of the words a sentence adds to the question that each passage holds."""
        added = content_words(text, reply.lang) - content_words(reply.question, reply.lang)
        return np.array(shared_word_shares(added, [content_words(p.text, reply.lang) for p in reply.passages]))

    def rank(reply: Reply) -> np.ndarray:
        return -np.arange(len(reply.passages), dtype=float)

    Method = Callable[[str, Reply], np.ndarray]
    methods: dict[str, Method] = {
        "passage (before)": lambda s, r: by_passage(s, r.passages),
        "best sentence": lambda s, r: by_best_sentence(s, r.passages),
        "passage + best sentence": lambda s, r: by_passage(s, r.passages) + by_best_sentence(s, r.passages),
        "passage + 0.1 lexical": lambda s, r: by_passage(s, r.passages) + 0.1 * lexical(s, r),
        "passage + 0.2 lexical": lambda s, r: by_passage(s, r.passages) + 0.2 * lexical(s, r),
        "best sentence + 0.1 lexical": lambda s, r: by_best_sentence(s, r.passages) + 0.1 * lexical(s, r),
        "passage - 0.01 per rank": lambda s, r: by_passage(s, r.passages) + 0.01 * rank(r),
        "passage - 0.03 per rank": lambda s, r: by_passage(s, r.passages) + 0.03 * rank(r),
    }
    for weight in (0.5, 1.0):
        methods[f"passage + {weight} question"] = lambda s, r, w=weight: (
            by_passage(s, r.passages) + w * by_passage(r.question, r.passages)
        )
    for weight in (0.5, 1.0):
        methods[f"passage + {weight} whole answer"] = lambda s, r, w=weight: (
            by_passage(s, r.passages) + w * by_passage(r.text, r.passages)
        )
    for weight in (0.5, 1.0, 2.0):
        methods[f"passage + {weight} answer so far"] = lambda s, r, w=weight: (
            by_passage(s, r.passages) + w * by_passage(" ".join(r.said), r.passages)
        )

    with_answer_so_far = methods[f"passage + {ANSWER_SO_FAR_WEIGHT} answer so far"]
    for weight in (0.15, SHARED_WORDS_WEIGHT, 0.45):
        label = f"passage + {ANSWER_SO_FAR_WEIGHT} answer so far + {weight} shared words"
        label += " (current)" if weight == SHARED_WORDS_WEIGHT else ""
        methods[label] = lambda s, r, w=weight: with_answer_so_far(s, r) + w * shared_words(s, r)

    def already_cited(reply: Reply) -> np.ndarray:
        return np.array([float(n in reply.cited) for n in range(1, len(reply.passages) + 1)])

    current = methods[next(name for name in methods if name.endswith("(current)"))]
    for bonus in (0.03, 0.05, 0.08):
        methods[f"current + {bonus} if already cited"] = lambda s, r, b=bonus: current(s, r) + b * already_cited(r)

    def other_language(text: str, reply: Reply) -> np.ndarray:
        """1 for a passage written in another language than ``text``: cross-lingual cosines run lower."""
        mine = detect_language(text)
        return np.array([float(detect_language(p.text) != mine) for p in reply.passages])

    for bonus in (0.02, 0.06, 0.15):
        methods[f"current + {bonus} if in the other language"] = lambda s, r, b=bonus: (
            current(s, r) + b * (1 + ANSWER_SO_FAR_WEIGHT) * other_language(s, r)
        )

    def guarded(bar_words: int) -> Callable[[Reply], AsideGuard]:
        def guard(reply: Reply) -> AsideGuard:
            asked = embed(reply.question, True)
            asked_words = content_words(reply.question, reply.lang)
            return AsideGuard(
                lambda sentence: float(embed(sentence, False) @ asked),
                lambda sentence: len(content_words(sentence, reply.lang) - asked_words),
                bar_words,
            )

        return guard

    guards: dict[str, Callable[[Reply], AsideGuard] | None] = {"every sentence": None}
    for bar_words in (0, 1, 2, 3):
        label = f"asides bring none, bar from >= {bar_words} new words"
        guards[label + (" (current)" if bar_words == ASIDE_BAR_WORDS else "")] = guarded(bar_words)

    def cite(method: Method, reply: Reply, make_guard: Callable[[Reply], AsideGuard] | None = None) -> list[int]:
        guard = make_guard(reply) if make_guard else None

        def best(sentence: str) -> int | None:
            reply.said.append(sentence)
            scores = method(sentence, reply)
            if not len(scores):
                return None
            n = int(np.argmax(scores)) + 1
            if guard and not guard.allows(sentence, n):
                return None
            reply.cited.append(n)
            return n

        reply.said.clear()
        reply.cited.clear()
        citer = SentenceCiter(best)
        citer.feed(reply.text)
        citer.flush()
        return citer.cited

    rows = {name: (method, None) for name, method in methods.items()}
    rows |= {name: (current, guard) for name, guard in guards.items()}
    per_run: dict[str, dict[str, list[int]]] = {}
    for set_path, run_dir in zip(args.pairs[::2], args.pairs[1::2], strict=True):
        questions = {q.id: q for q in load_question_set(Path(set_path))}
        counts = per_run.setdefault(f"{Path(set_path).stem} {Path(run_dir).name}", {m: [0, 0, 0] for m in rows})
        for item in read_results(Path(run_dir) / "results.jsonl"):
            question = questions[item["id"]]
            if not question.evidence or item["abstained"] or not item["citations"]:
                continue
            passages = passages_given(item)
            evidence = [normalize(e) for e in question.evidence]
            holding = {n for n, p in enumerate(passages, 1) if any(e in normalize(p.text) for e in evidence)}
            reply = Reply(
                passages,
                item["lang"],
                item.get("standalone_question") or item["question"],
                MARKER.sub("", item["answer"]),
            )
            for name, (method, guard) in rows.items():
                cited = set(cite(method, reply, guard))
                counts[name][0] += len(holding & cited)
                counts[name][1] += len(cited)
                counts[name][2] += len(holding)
    print("precision: share of cited passages holding an evidence string (n cited);")
    print("recall: share of the given passages holding one that the answer cites")
    headers = [f"{run}: precision (n) / recall" for run in per_run]
    for title, names in (
        ("support scored by (every sentence cited)", methods),
        ("sentences that may cite a new passage (support as current)", guards),
    ):
        print(f"\n{title:60}" + "".join(f"{h:>{len(h) + 3}}" for h in headers))
        for name in names:
            cells = [
                f"{h / c if c else 0:.3f} ({c:3d}) / {h / e if e else 0:.3f}"
                for h, c, e in (per_run[r][name] for r in per_run)
            ]
            print(f"{name:60}" + "".join(f"{cell:>{len(h) + 3}}" for cell, h in zip(cells, headers, strict=True)))


if __name__ == "__main__":
    main()
