"""Retrieval on the real store and the real embedding model."""

from rag.embeddings import load_embedder
from rag.retrieval import Retriever, conversation_query
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
    retriever = Retriever(open_store(full_store, embedder.model_id, embedder.dimension), embedder)

    def finds_the_answer(queries) -> bool:
        return any("social networks" in p.text for p in retriever.search(queries, 5, lang="en"))

    assert not finds_the_answer(FOLLOW_UP)
    assert finds_the_answer([FOLLOW_UP, conversation_query(HISTORY, FOLLOW_UP)])
