"""Retrieval on the real store and the real embedding model."""

import numpy as np

from rag.embeddings import load_embedder
from rag.retrieval import Passage, RetrievalOptions, Retriever, conversation_query
from rag.store import open_store

HISTORY = [
    {"role": "user", "content": "How can AI help social economy organisations measure their impact?"},
    {"role": "assistant", "content": "Through a large-scale analysis of the feelings expressed by stakeholders [1]."},
]
FOLLOW_UP = "Where would the data come from?"


def test_the_conversation_query_is_the_last_exchange_without_markers():
    query = conversation_query(HISTORY, FOLLOW_UP)
    assert query == (
        "How can AI help social economy organisations measure their impact? "
        "Through a large-scale analysis of the feelings expressed by stakeholders. Where would the data come from?"
    )
    assert conversation_query([*HISTORY, {"role": "user", "content": "And then?"}], "Why?").startswith("And then? ")


def test_a_follow_up_the_rewrite_left_vague_is_found_through_the_last_exchange(full_store):
    embedder = load_embedder(full_store.embedding_model, 2, 8)
    store = open_store(full_store, embedder.model_id, embedder.dimension)
    passage_level = Retriever(store, embedder, RetrievalOptions(sentence_rerank=False))

    def finds_the_answer(retriever, queries) -> bool:
        return any("social networks" in p.text for p in retriever.search(queries, 5, lang="en"))

    both = [FOLLOW_UP, conversation_query(HISTORY, FOLLOW_UP)]
    assert not finds_the_answer(passage_level, FOLLOW_UP)
    assert finds_the_answer(passage_level, both)
    assert finds_the_answer(Retriever(store, embedder), both)


def test_a_passage_whose_one_sentence_answers_is_ranked_first_by_that_sentence(full_store):
    """The article mentions the hospitalised children's workshops once, in a paragraph about other programmes."""
    embedder = load_embedder(full_store.embedding_model, 2, 8)
    store = open_store(full_store, embedder.model_id, embedder.dimension)
    question = "What does Orange offer to hospitalised children?"

    def first(options: RetrievalOptions) -> str:
        return Retriever(store, embedder, options).search(question, 5, lang="en")[0].text

    assert "SuperCod" in first(RetrievalOptions())
    assert "SuperCod" not in first(RetrievalOptions(sentence_rerank=False))


class CountingEmbedder:
    """Encodes a text as a one-hot of its length, and counts what it was asked to encode."""

    def __init__(self) -> None:
        self.encoded: list[str] = []

    def embed_documents(self, texts):
        self.encoded.extend(texts)
        return np.stack([np.eye(512)[len(t) % 512] for t in texts])


class RevisedStore:
    """A store revision and the sentence vectors the indexer left, if any."""

    def __init__(self, stored: dict[str, np.ndarray] | None = None) -> None:
        self.revision_id = "1"
        self.stored = stored or {}

    def revision(self) -> str:
        return self.revision_id

    def sentence_vectors(self, chunk_ids):
        return {cid: self.stored[cid] for cid in chunk_ids if cid in self.stored}


def passage(chunk_id: str, text: str) -> Passage:
    return Passage(chunk_id, "doc", "slug", "en", "Title", "", "", 0, 0, len(text), text, 0.0)


def test_sentence_vectors_are_encoded_once_per_store_revision():
    store, embedder = RevisedStore(), CountingEmbedder()
    retriever = Retriever(store, embedder)
    long = passage("a", "A first sentence that is long enough. Short one. A second sentence, long enough too.")
    short = passage("b", "Too short. Both.")

    vectors = retriever.sentence_vectors([long, short])
    assert [len(vectors["a"]), len(vectors["b"])] == [2, 1]
    assert len(embedder.encoded) == 3
    assert all(text.startswith("Title") for text in embedder.encoded)

    retriever.sentence_vectors([long])
    assert len(embedder.encoded) == 3
    store.revision_id = "2"
    retriever.sentence_vectors([long])
    assert len(embedder.encoded) == 5


def test_stored_sentence_vectors_are_used_and_incomplete_ones_encoded_again():
    long = passage("a", "A first sentence that is long enough. Short one. A second sentence, long enough too.")
    cut = passage("b", "One sentence that is long enough here. And another one, long enough too.")
    store = RevisedStore({"a": np.ones((2, 512)), "b": np.ones((1, 512))})
    embedder = CountingEmbedder()

    vectors = Retriever(store, embedder).sentence_vectors([long, cut])
    assert np.array_equal(vectors["a"], np.ones((2, 512)))
    assert len(vectors["b"]) == 2
    assert len(embedder.encoded) == 2 and all("long enough" in text for text in embedder.encoded)


def test_a_sentence_that_answers_comes_closer_to_the_question_than_an_aside(embedder):
    """The real encoder, on sentences of a recorded answer: the aside is what the passages say next."""
    closeness = Retriever(RevisedStore(), embedder).question_closeness(
        "Qui a initié le rapport sur les communs numériques, et lors de quelle conférence ?"
    )
    answers = closeness(
        "Le rapport sur les communs numériques a été publié par la France lors de la conférence"
        " 'Building Europe’s Digital Sovereignty' à Toulouse."
    )
    aside = closeness(
        "Selon la définition d'Elinor Ostrom, lauréate du prix Nobel d’économie en 2009, un bien commun"
        " est défini comme une ressource conçue et régie par une communauté."
    )
    assert answers > aside
