"""Finding the passages that answer a question."""

from __future__ import annotations

from dataclasses import dataclass

from rag.embeddings import Embedder
from rag.store import Store, StoredChunk


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk, with what a citation needs and the score that ranked it."""

    chunk_id: str
    doc_id: str
    slug: str
    lang: str
    title: str
    url: str
    section: str
    position: int
    start: int
    end: int
    text: str
    score: float

    @classmethod
    def from_stored(cls, stored: StoredChunk, score: float) -> Passage:
        meta = stored.metadata
        return cls(
            chunk_id=stored.chunk_id,
            doc_id=str(meta.get("doc_id", "")),
            slug=str(meta.get("slug", "")),
            lang=str(meta.get("lang", "")),
            title=str(meta.get("title", "")),
            url=str(meta.get("url", "")),
            section=str(meta.get("section", "")),
            position=int(meta.get("position", 0)),
            start=int(meta.get("start", 0)),
            end=int(meta.get("end", 0)),
            text=stored.text,
            score=score,
        )


class Retriever:
    """Dense search over the store."""

    def __init__(self, store: Store, embedder: Embedder) -> None:
        self.store = store
        self.embedder = embedder

    def search(self, question: str, k: int = 5) -> list[Passage]:
        vector = self.embedder.embed_query(question)
        return [Passage.from_stored(stored, score) for stored, score in self.store.query(vector, k)]
